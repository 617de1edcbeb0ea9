"""bench/overhead.py's report (pure, no root): ratio lines in the bench house style, the spread of
every cell, and a target that is met only when both the ratio and the spreads allow it."""

import importlib.util
import sys
from pathlib import Path

from vmcompare import overhead, workloads as wl

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_overhead", BENCH / "overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cmp(host, ctr, name="cpu"):
    ws = wl.catalogue([name])
    cmp = overhead.Comparison({}, ws, len(host))
    for env, vals in (("host", host), ("container", ctr)):
        cmp.runs[env] = overhead.EnvRun(env, {}, [wl.Sample(name, i + 1, "ok", 1.5, v) for i, v in enumerate(vals)])
    return cmp


def test_met_when_the_ratio_and_every_spread_are_inside():
    bench = _bench()
    lines, met = bench.report(_cmp([700, 702, 698, 701, 699], [690, 692, 688, 691, 689]), envs=("container",))
    # throughput: the container's time per round over the host's = 700 / 690
    assert "container-cpu/host = 1.01x" in "\n".join(lines)
    assert met and lines[-1].endswith(": met")


def test_not_met_names_what_failed():
    bench = _bench()
    lines, met = bench.report(_cmp([700, 705, 695, 701, 699], [600, 700, 640, 690, 610]), envs=("container",))
    assert not met
    assert "container-cpu/host = 1.09x" in "\n".join(lines)          # 700 / 640
    assert "NOT met (container cpu spread" in lines[-1] and "cpu 1.094x" in lines[-1]


def test_time_per_operation_rows_are_not_inverted():
    bench = _bench()
    lines, _ = bench.report(_cmp([200] * 5, [260] * 5, name="syscall"), envs=("container",))
    assert "container-syscall/host = 1.30x" in "\n".join(lines)

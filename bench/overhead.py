#!/usr/bin/env python3
"""Does a container slow CPU and memory work down? The container against the host, same binary.

The same static ``mc-timer`` (vmcompare/timer, built by ``make``) runs a fixed amount of work
on the host and in a ``minicontainer run --rm busybox`` container (bind-mounted read-only:
the same file), and reports the CPU time it took (``CLOCK_PROCESS_CPUTIME_ID``): ``cpu`` is an
integer mixing loop in registers, ``memory`` a memset + read pass over 64 MiB. The host and
the container take turns, one run each per round, the order reversed every other round, so
a change in the machine's load falls on both (:func:`vmcompare.overhead.compare`). Each run
lasts at least 1 s on its clock (sizes are raised on a faster host, never lowered).

Felter et al. (IBM Research RC25482, 2015) found Docker's CPU and memory performance equal to
native. The target here, from issue 18: the container's cpu and memory figures within +-3 %
of the host's (median of 5), and every cell precise enough to say so (p5-p95 spread within
10 % of its median). The bench prints one ``container-W/host = R x`` line per workload (R: the
container's time per unit of work over the host's; above 1 = the container is slower), the
per-round paired ratio as a check, each cell's spread, and whether the target is met.

With ``--seccomp`` it also times two cheap system calls (getppid, and read on a bad fd) with
and without the container's seccomp filter (``--security-opt seccomp=unconfined``), the cost
chapter 08 used to assert without measuring.

Usage: ``.venv/bin/python bench/overhead.py [--trials 5] [--seccomp]`` (as root). Exit status
0 when every series ran (met or not: the report says), 1 when a series failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine_info, median, quantile, ratio_line  # noqa: E402
from minicontainer import paths  # noqa: E402
from vmcompare import overhead  # noqa: E402
from vmcompare.errors import MiniContainerError  # noqa: E402

TARGET_RATIO = 0.03      # |container/host - 1| must not exceed this
TARGET_SPREAD = 0.10     # (p95 - p5) / median of every cpu and memory cell


def cost(value: float, higher_is_better: bool) -> float:
    """Time per unit of work (any scale), whichever way the workload's unit points."""
    return 1.0 / value if higher_is_better else value


def cell(values: list[float]) -> tuple[float, float]:
    """(median, p5-p95 spread as a fraction of the median)."""
    med = median(values)
    return med, (quantile(values, 0.95) - quantile(values, 0.05)) / med


def report(cmp, envs=("container", "unconfined"), checked=("cpu", "memory")) -> tuple[list[str], bool]:
    """The report's lines and whether the target was met (pure: tested without root)."""
    lines, met, why = [], True, []
    by_name = {w.name: w for w in cmp.workloads}
    lines.append(f"  {'cell':<22} {'median':>12} {'p5-p95 spread':>14}")
    for w in cmp.workloads:
        for env in ("host", *envs):
            if env not in cmp.runs:
                continue
            vals = cmp.runs[env].values(w.name)
            med, spread = cell(vals)
            lines.append(f"  {env + ' ' + w.name:<22} {med:>8.2f} {w.unit:<10} {spread:>6.1%} (n={len(vals)})")
            if w.name in checked and spread > TARGET_SPREAD:
                met = False
                why.append(f"{env} {w.name} spread {spread:.1%}")
    lines.append("")
    for env in envs:
        if env not in cmp.runs:
            continue
        label = "container" if env == "container" else "unconfined"
        for name, w in by_name.items():
            host, other = cmp.runs["host"].values(name), cmp.runs[env].values(name)
            r = cost(median(other), w.higher_is_better) / cost(median(host), w.higher_is_better)
            per_round = median([cost(o, w.higher_is_better) / cost(h, w.higher_is_better)
                                for h, o in zip(host, other)])
            lines.append(f"{ratio_line(f'{label}-{name}', 'host', r):<34} (median of per-round ratios "
                         f"{per_round:.2f}x)")
            if env == "container" and name in checked and abs(r - 1) > TARGET_RATIO:
                met = False
                why.append(f"{name} {r:.3f}x")
    target = (f"target: container-cpu/host and container-memory/host within {1 - TARGET_RATIO:.2f}x-"
              f"{1 + TARGET_RATIO:.2f}x, every cpu/memory cell's spread <= {TARGET_SPREAD:.0%}: ")
    lines.append(target + ("met" if met else f"NOT met ({'; '.join(why)})"))
    return lines, met


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="overhead.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=5, help="rounds (each runs every environment once)")
    p.add_argument("--seccomp", action="store_true", help="also time getppid/read with and without seccomp")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every workload's size")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("overhead.py: containers need root", file=sys.stderr)
        return 1
    names = ["cpu", "memory"] + (["syscall", "badread"] if args.seccomp else [])
    envs = ("host", "container") + (("unconfined",) if args.seccomp else ())
    info = machine_info()
    load = (paths.PROC_ROOT / "loadavg").read_text().split()[:3]
    print(f"machine: {info['cpu']} x{info['cores']}, {info['kernel']}, load average {' '.join(load)} at the start")
    try:
        cmp = overhead.compare(names, trials=args.trials, scale=args.scale, envs=envs,
                               progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    except MiniContainerError as err:
        print(f"overhead.py: {err.message}", file=sys.stderr)
        return 1
    print(overhead.format_table(cmp))
    print()
    lines, _met = report(cmp, envs=tuple(e for e in envs if e != "host"))
    print("\n".join(lines))
    print(f"(load average at the end: {' '.join((paths.PROC_ROOT / 'loadavg').read_text().split()[:3])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

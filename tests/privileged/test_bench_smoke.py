"""`bench/start_latency.py --smoke` for real: every contender runs (minicontainer, runc, crun,
the unshare floor, the python floor), the report lines parse, the run path imports nothing forbidden, and
the bench leaves nothing behind (no temporary state, no mounts, no runc/crun container)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if os.geteuid() != 0:
    pytest.skip("needs root: the bench creates namespaces, mounts and cgroups", allow_module_level=True)

MISSING = [tool for tool in ("runc", "crun", "unshare") if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")]
if MISSING:
    pytest.skip(f"not installed: {', '.join(MISSING)} (scripts/install-system-deps.sh)", allow_module_level=True)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "start_latency.py"
sys.path.insert(0, str(BENCH.parent))
from _common import mounts_under, parse_ratio_lines  # noqa: E402

from minicontainer import paths  # noqa: E402
from minicontainer.cgroups import detect  # noqa: E402


def cgroup_dirs_named(needle: str, root: Path = paths.CGROUP_ROOT) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        found += [os.path.join(dirpath, d) for d in dirnames if needle in d]
    return found


@pytest.fixture
def bench_tmp(tmp_path):
    parent = tmp_path / "bench"
    parent.mkdir()
    try:
        yield parent
    finally:
        assert not mounts_under(parent), "mounts left under the bench's temporary directory"


def test_smoke_run_reports_three_positive_ratios_and_leaves_nothing(bench_tmp):
    res = subprocess.run([sys.executable, str(BENCH), "--smoke", "--tmp", str(bench_tmp)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    ratios = parse_ratio_lines(res.stdout)
    assert set(ratios) == {("minicontainer", "runc"), ("minicontainer", "crun"), ("minicontainer", "unshare"),
                           ("python_floor", "runc"), ("minicontainer-engine", "runc"), ("docker-engine", "runc")}
    assert all(r > 0 for r in ratios.values()), ratios
    lines = res.stdout.splitlines()
    assert any(re.match(r"^target: minicontainer/runc <= 0\.90x: (met|NOT met) \(\d+\.\d+x\)$", ln) for ln in lines)
    for name, target in (("minicontainer-engine", "0.90"), ("docker-engine", "1.00")):
        assert any(re.match(rf"^target: {name}/runc <= {target}x: (met|NOT met) \(\d+\.\d+x\)$", ln)
                   for ln in lines), res.stdout
    assert re.search(r"^\(docker --version = \d+\.\d ms: the docker CLI's own start", res.stdout, re.M)
    assert any(ln.startswith("wrapper: every contender runs as `unshare -m sh -c '") for ln in lines)
    assert re.search(r"^machine: .+, \d+ cores, Linux \S+", res.stdout, re.M)
    medians = re.findall(r"^  (minicontainer|runc|crun|unshare|python_floor|minicontainer-engine|docker-engine)"
                         r"\s+(\d+\.\d) ms", res.stdout, re.M)
    assert {name for name, _ in medians} == {"minicontainer", "runc", "crun", "unshare", "python_floor",
                                             "minicontainer-engine", "docker-engine"}
    grace = re.search(r"^\(moving PID 1 into its cgroups waited (\d+\.\d) ms in python_floor", res.stdout, re.M)
    assert grace, res.stdout
    floor_ms = float(dict(medians)["python_floor"])
    # the wait is one step of every python_floor run, so it is shorter than the run; on cgroup v1 the
    # migration waits for an RCU grace period (milliseconds), never for nothing at 0.1 ms resolution
    assert float(grace.group(1)) < floor_ms, res.stdout
    if detect(paths.CGROUP_ROOT, paths.PROC_ROOT).backend == "v1":
        assert float(grace.group(1)) > 0, res.stdout
    assert re.search(r"each run after 0\.1 s idle", res.stdout)
    assert all(float(ms) > 0 for _, ms in medians)
    assert re.search(r"^  forbidden \(.*\): none$", res.stdout, re.M)
    assert "leftovers: none" in lines
    assert os.listdir(bench_tmp) == [], "the bench did not remove its temporary state"
    assert cgroup_dirs_named("mcbench-") == [], "runc/crun cgroups left behind"


def test_smoke_fails_cleanly_with_a_missing_console_script(bench_tmp):
    res = subprocess.run([sys.executable, str(BENCH), "--smoke", "--tmp", str(bench_tmp),
                          "--minicontainer", str(bench_tmp / "nope")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("start_latency: ")
    assert os.listdir(bench_tmp) == []

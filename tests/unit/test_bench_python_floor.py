"""Unit tests of bench/python_floor.py, the "least a Python runtime must do" reference row
of start_latency.py: where it puts its cgroups (fake /proc and /sys/fs/cgroup under
tmp_path), that it cleans up what it made, and that it imports next to nothing."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

FLOOR = Path(__file__).resolve().parents[2] / "bench" / "python_floor.py"


@pytest.fixture(scope="module")
def floor():
    spec = importlib.util.spec_from_file_location("bench_python_floor", FLOOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_roots(tmp_path, self_cgroup: str, hierarchies=(), v2=False):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(self_cgroup)
    cg = tmp_path / "cgroup"
    cg.mkdir()
    for h in hierarchies:
        (cg / h).mkdir(parents=True)
    if v2:
        (cg / "cgroup.controllers").write_text("cpu memory pids\n")
    return str(cg), str(proc)


def test_v1_cgroups_sit_under_the_callers_own_in_each_mounted_controller(tmp_path, floor):
    cg, proc = fake_roots(tmp_path, "9:name=systemd:/\n4:memory:/process_api/x\n3:cpuset:/\n"
                                    "2:cpu,cpuacct:/user\n8:pids:/\n0::/\n",
                          hierarchies=("memory/process_api/x", "cpuset", "cpu", "cpuacct"))
    dirs = floor.cgroup_dirs(cg, proc, "pyfloor-1")
    assert dirs == [f"{cg}/cpu/user/pyfloor-1", f"{cg}/cpuacct/user/pyfloor-1", f"{cg}/cpuset/pyfloor-1",
                    f"{cg}/memory/process_api/x/pyfloor-1"]       # pids is not mounted here: skipped


def test_v2_gets_one_cgroup_under_the_callers(tmp_path, floor):
    cg, proc = fake_roots(tmp_path, "0::/user.slice/session-1.scope\n", v2=True)
    assert floor.cgroup_dirs(cg, proc, "pyfloor-2") == [f"{cg}/user.slice/session-1.scope/pyfloor-2"]


def test_make_cgroups_copies_cpuset_and_removes_what_it_made_on_failure(tmp_path, floor):
    cg, _ = fake_roots(tmp_path, "", hierarchies=("cpuset", "memory"))
    (Path(cg) / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (Path(cg) / "cpuset" / "cpuset.mems").write_text("0\n")
    made = floor.make_cgroups([f"{cg}/cpuset/a", f"{cg}/memory/a"])
    assert (Path(cg) / "cpuset" / "a" / "cpuset.cpus").read_text() == "0-1\n"
    for d in made:
        for f in Path(d).iterdir():         # a real cgroupfs has no files to remove; the fake does
            f.unlink()
    floor.remove_cgroups(made)
    assert not (Path(cg) / "cpuset" / "a").exists() and not (Path(cg) / "memory" / "a").exists()
    with pytest.raises(FileNotFoundError):  # the second parent is missing: the first is removed again
        floor.make_cgroups([f"{cg}/memory/b", f"{cg}/nowhere/b"])
    assert not (Path(cg) / "memory" / "b").exists()


def imported(argv):
    res = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime"] + argv,
                         capture_output=True, text=True, timeout=60)
    mods = {line.split("|")[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    return res, mods - {"imported package", ""}


def test_usage_error_and_nothing_imported_beyond_ctypes_and_time_even_in_the_child():
    res, mods = imported([str(FLOOR)])
    assert res.returncode == 2 and "usage: python_floor.py" in res.stderr
    _, allowed = imported(["-c", "import ctypes, time"])
    assert mods <= allowed, sorted(mods - allowed)


def test_comounted_cpu_cpuacct_gets_one_cgroup(fake_systemd_hybrid_host, floor):
    """systemd's hybrid layout: cpu and cpuacct are symlinks to one cpu,cpuacct hierarchy. The same
    directory must not be made twice (it was: FileExistsError before any container started)."""
    proc, cg = fake_systemd_hybrid_host
    dirs = floor.cgroup_dirs(str(cg), str(proc), "pyfloor-3")
    assert dirs == [f"{cg}/cpu/user.slice/pyfloor-3", f"{cg}/cpuset/pyfloor-3", f"{cg}/freezer/pyfloor-3",
                    f"{cg}/memory/user.slice/pyfloor-3", f"{cg}/pids/pyfloor-3"]
    made = floor.make_cgroups(dirs)
    assert (cg / "cpu,cpuacct" / "user.slice" / "pyfloor-3").is_dir()
    assert (cg / "cpuset" / "pyfloor-3" / "cpuset.mems").read_text() == "0\n"
    for d in made:
        for f in Path(d).iterdir():
            f.unlink()
    floor.remove_cgroups(made)
    assert not list(cg.rglob("pyfloor-3"))


def test_comounted_hierarchy_without_symlinks_is_found_by_its_joined_name(fake_systemd_hybrid_host, floor):
    proc, cg = fake_systemd_hybrid_host
    (cg / "cpu").unlink()
    (cg / "cpuacct").unlink()
    dirs = floor.cgroup_dirs(str(cg), str(proc), "pyfloor-4")
    assert dirs[0] == f"{cg}/cpu,cpuacct/user.slice/pyfloor-4" and len(dirs) == 5

"""Both cgroup backends against fake cgroup trees under tmp_path (no root needed).

``FakeCgroupFs`` is a RecordingSyscalls that also plays the kernel's part on the fake
tree: mkdir creates the control files a real cgroupfs would, writes land in the files,
rmdir removes the directory, kill empties cgroup.procs. The tests assert the exact
calls, files and values.
"""

import errno
import shutil
from pathlib import Path

import pytest

from minicontainer.cgroups import Limits, container_cgroup_name, detect, new_manager
from minicontainer.cgroups.prune import find_leftovers, prune
from minicontainer.errors import CgroupError, ConflictError, KernelError, UsageError
from minicontainer.kernel.recording import RecordingSyscalls

HUGE = "9223372036854771712"
V1_FILES = {
    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.shares": "1024",
            "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
    "cpuacct": {"cpuacct.usage": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {"memory.limit_in_bytes": HUGE, "memory.memsw.limit_in_bytes": HUGE, "memory.usage_in_bytes": "0",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "freezer": {"freezer.state": "THAWED"},
}
V2_FILES = {
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100",
            "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\n"},
    "memory": {"memory.max": "max", "memory.swap.max": "max", "memory.current": "0",
               "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "cpuset": {"cpuset.cpus": ""},
}


class FakeCgroupFs(RecordingSyscalls):
    def __init__(self, cg: Path, fail=None):
        super().__init__(fail)
        self.cg = cg

    def _run(self, call, args, why, thunk, typed):
        result = super()._run(call, args, why, thunk, typed)   # records; raises if told to fail
        return getattr(self, "_fake_" + call, lambda **a: result)(**typed)

    def _fake_mkdir(self, path, mode):
        path = Path(path)
        path.mkdir(exist_ok=True)
        files = {"cgroup.procs": ""}
        top = path.relative_to(self.cg).parts[0]
        if top == "unified" or (self.cg / "cgroup.subtree_control").exists():
            granted = (path.parent / "cgroup.subtree_control").read_text().split()
            files.update({"cgroup.controllers": " ".join(granted), "cgroup.subtree_control": "",
                          "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0", "cgroup.kill": ""})
            for ctrl in granted:
                files.update(V2_FILES.get(ctrl, {}))
        else:
            for ctrl in top.split(","):      # a co-mounted hierarchy (cpu,cpuacct) has both sets of files
                files.update(V1_FILES.get(ctrl, {}))
        for name, text in files.items():
            (path / name).write_text(text)

    def _fake_write(self, path, data):
        path, value = Path(path), data
        if path.name == "cgroup.subtree_control":
            enabled = set(path.read_text().split()) | {v[1:] for v in value.split()}
            path.write_text(" ".join(sorted(enabled)))
        elif path.name == "cgroup.procs":
            path.write_text(path.read_text() + value + "\n")
        elif path.name == "cgroup.kill":
            (path.parent / "cgroup.procs").write_text("")
        elif path.name == "cgroup.freeze":
            path.write_text(value)
            (path.parent / "cgroup.events").write_text(f"populated 0\nfrozen {value}\n")
        else:
            path.write_text(value)

    def _fake_rmdir(self, path):
        if any(c.is_dir() for c in Path(path).iterdir()):   # the kernel refuses while children exist
            raise KernelError("device or resource busy (EBUSY)", op="rmdir", path=path, errno=errno.EBUSY)
        shutil.rmtree(path)

    def _fake_kill(self, pid, sig):
        pid = str(pid)
        for procs in self.cg.rglob("cgroup.procs"):
            procs.write_text("".join(f"{p}\n" for p in procs.read_text().split() if p != pid))

    def writes(self):
        return [(str(c.args["path"]), c.args["data"]) for c in self.calls_of("write")]


def mountinfo_line(i, mp, fstype, opts):
    return f"{30 + i} 1 0:{30 + i} / {mp} rw - {fstype} {fstype} {opts}\n"


@pytest.fixture
def v1_host(tmp_path):
    """A hybrid host like this one: memory cgroup /process_api/abc, the others at /."""
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    lines = []
    for i, ctrl in enumerate(V1_FILES):
        (cg / ctrl).mkdir(parents=True)
        (cg / ctrl / "cgroup.procs").write_text("1\n")
        lines.append(mountinfo_line(i, cg / ctrl, "cgroup", f"rw,{ctrl}"))
    (cg / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (cg / "cpuset" / "cpuset.mems").write_text("0\n")
    (cg / "memory" / "process_api" / "abc").mkdir(parents=True)
    (cg / "unified").mkdir()
    (cg / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    lines.append(mountinfo_line(9, cg / "unified", "cgroup2", "rw"))
    (proc / "self" / "mountinfo").write_text("".join(lines))
    (proc / "self" / "cgroup").write_text("6:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n")
    return detect(cg, proc), FakeCgroupFs(cg)


@pytest.fixture
def v2_host(tmp_path):
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (cg / "cgroup.subtree_control").write_text("io\n")
    (cg / "cgroup.procs").write_text("1\n")
    (proc / "self" / "mountinfo").write_text(mountinfo_line(0, cg, "cgroup2", "rw,nsdelegate"))
    (proc / "self" / "cgroup").write_text("0::/init.scope\n")
    return detect(cg, proc), FakeCgroupFs(cg)


# -- v1 ------------------------------------------------------------------------
def test_v1_placement_under_the_callers_cgroups(v1_host):
    layout, sysc = v1_host
    mgr = new_manager(layout, "minicontainer/c1", sysc)
    cg = layout.cgroup_root
    assert mgr.version == 1
    assert mgr.dirs["memory"] == cg / "memory/process_api/abc/minicontainer/c1"
    assert mgr.dirs["pids"] == cg / "pids/minicontainer/c1"
    assert mgr.procs_files() == sorted(cg / c / "minicontainer/c1/cgroup.procs" for c in
                                       ("cpu", "cpuacct", "cpuset", "freezer", "memory/process_api/abc", "pids"))
    assert new_manager(layout, "c1", sysc).dirs == mgr.dirs   # a bare id gets the shared parent


def test_v1_create_copies_cpuset_from_the_parent(v1_host):
    layout, sysc = v1_host
    mgr = new_manager(layout, "c1", sysc)
    mgr.create()
    cs = layout.cgroup_root / "cpuset"
    assert [w for w in sysc.writes() if "cpuset" in w[0]] == [
        (str(cs / "minicontainer/cpuset.cpus"), "0-1"), (str(cs / "minicontainer/cpuset.mems"), "0"),
        (str(cs / "minicontainer/c1/cpuset.cpus"), "0-1"), (str(cs / "minicontainer/c1/cpuset.mems"), "0")]
    assert sysc.calls().count("mkdir") == 12   # parent + leaf in six hierarchies
    assert all(p.is_dir() for p in mgr.paths())
    with pytest.raises(ConflictError):
        new_manager(layout, "c1", sysc).create()


def test_v1_create_fills_a_parent_another_start_has_not_filled_yet(v1_host):
    """Two starts at once: the other made the shared parent but has not copied cpus/mems into it yet."""
    layout, sysc = v1_host
    cs = layout.cgroup_root / "cpuset"
    (cs / "minicontainer").mkdir()
    for name in ("cpuset.cpus", "cpuset.mems", "cgroup.procs"):
        (cs / "minicontainer" / name).write_text("")
    new_manager(layout, "c2", sysc).create()
    assert (cs / "minicontainer/cpuset.cpus").read_text() == "0-1"
    assert (cs / "minicontainer/c2/cpuset.cpus").read_text() == "0-1"
    assert (cs / "minicontainer/c2/cpuset.mems").read_text() == "0"


def test_v1_apply_writes_exact_files(v1_host):
    layout, sysc = v1_host
    mgr = new_manager(layout, "c1", sysc)
    mgr.create()
    sysc.clear()
    mgr.apply(Limits(memory=64 << 20, memory_swap=128 << 20, cpus=0.5, cpu_shares=512, pids_limit=50,
                     cpuset_cpus="1"))
    d = {c: str(p) for c, p in mgr.dirs.items()}
    assert sysc.writes() == [
        (d["memory"] + "/memory.limit_in_bytes", str(64 << 20)),   # unlimited now: memory first
        (d["memory"] + "/memory.memsw.limit_in_bytes", str(128 << 20)),
        (d["cpu"] + "/cpu.cfs_period_us", "100000"),
        (d["cpu"] + "/cpu.cfs_quota_us", "50000"),
        (d["cpu"] + "/cpu.shares", "512"),
        (d["pids"] + "/pids.max", "50"),
        (d["cpuset"] + "/cpuset.cpus", "1"),
    ]
    sysc.clear()
    mgr.apply(Limits(memory=256 << 20, memory_swap=512 << 20))   # raising: memsw must go first
    assert [Path(p).name for p, _ in sysc.writes()] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    sysc.clear()
    mgr.apply(Limits(pids_limit=-1))
    assert sysc.writes() == [(d["pids"] + "/pids.max", "max")]


def test_v1_stats_and_oom_counter(v1_host):
    layout, sysc = v1_host
    mgr = new_manager(layout, "c1", sysc)
    mgr.create()
    mem = mgr.dirs["memory"]
    (mgr.dirs["cpuacct"] / "cpuacct.usage").write_text("123456789\n")
    (mem / "memory.usage_in_bytes").write_text("4096\n")
    (mgr.dirs["pids"] / "pids.current").write_text("3\n")
    (mgr.dirs["cpu"] / "cpu.stat").write_text("nr_periods 10\nnr_throttled 4\nthrottled_time 9\n")
    s = mgr.stats()
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_limit, s.pids_current, s.pids_limit, s.oom_kills,
            s.nr_throttled) == (123456789, 4096, None, 3, None, 0, 4)
    assert mgr.oom_killed() is False
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert mgr.oom_killed() is True and mgr.stats().oom_kills == 1


def test_v1_freeze_kill_and_remove_leaves_nothing(v1_host):
    layout, sysc = v1_host
    mgr = new_manager(layout, "c1", sysc)
    mgr.create()
    for procs in mgr.procs_files():
        procs.write_text("4242\n4243\n")
    sysc.clear()
    mgr.remove()
    freezer = mgr.dirs["freezer"] / "freezer.state"
    assert sysc.writes()[:2] == [(str(freezer), "FROZEN"), (str(freezer), "THAWED")]
    assert [s.args for s in sysc.steps if s.call == "kill"] == ["4242, 9", "4243, 9"]
    assert not any(p.exists() for p in mgr.paths())
    assert not any(p.parent.exists() for p in mgr.paths())         # the minicontainer parents too
    assert (layout.cgroup_root / "memory/process_api/abc").is_dir()  # never above them


def test_v1_remove_keeps_a_parent_another_container_uses(v1_host):
    layout, sysc = v1_host
    a, b = new_manager(layout, "a", sysc), new_manager(layout, "b", sysc)
    a.create()
    b.create()
    sysc.fail["rmdir"] = errno.EBUSY   # a dying process keeps the leaf busy once: retried
    a.remove()
    assert not any(p.exists() for p in a.paths())
    assert all(p.parent.is_dir() for p in b.paths())
    b.remove()
    assert not any(p.parent.exists() for p in b.paths())


def test_v1_create_failure_leaves_nothing(v1_host):
    layout, _ = v1_host
    sysc = FakeCgroupFs(layout.cgroup_root, fail={"write": errno.EACCES})   # the cpuset copy fails
    mgr = new_manager(layout, "c1", sysc)
    with pytest.raises(CgroupError) as info:
        mgr.create()
    assert "permission denied" in str(info.value)
    assert not list(layout.cgroup_root.rglob("minicontainer"))


def test_v1_comounted_cpu_cpuacct_is_one_directory(fake_systemd_hybrid_host):
    """systemd's hybrid layout (cpu and cpuacct symlinked to one cpu,cpuacct hierarchy): one cgroup
    there, made, joined, measured and removed once; limits and usage in the same directory."""
    proc, cg = fake_systemd_hybrid_host
    layout, sysc = detect(cg, proc), FakeCgroupFs(cg)
    assert layout.backend == "v1" and layout.v1["cpu"] is layout.v1["cpuacct"]
    mgr = new_manager(layout, "c1", sysc)
    leaf = cg / "cpu,cpuacct/user.slice/minicontainer/c1"
    assert mgr.dirs["cpu"] == mgr.dirs["cpuacct"] == leaf
    assert mgr.procs_files() == sorted(cg / d / "cgroup.procs" for d in (
        "cpu,cpuacct/user.slice/minicontainer/c1", "cpuset/minicontainer/c1", "freezer/minicontainer/c1",
        "memory/user.slice/minicontainer/c1", "pids/minicontainer/c1"))
    mgr.create()
    assert sysc.calls().count("mkdir") == 10           # parent + leaf in five hierarchies, not six
    mgr.add_process(4242)
    assert (leaf / "cgroup.procs").read_text() == "4242\n"
    mgr.apply(Limits(cpus=0.5))
    assert (leaf / "cpu.cfs_quota_us").read_text() == "50000"
    (leaf / "cpuacct.usage").write_text("777\n")
    assert mgr.stats().cpu_usage_ns == 777
    assert set(find_leftovers(layout)) == {"c1"}
    assert find_leftovers(layout)["c1"]["cpuacct"] == leaf
    sysc.clear()
    mgr.remove()
    assert [s.args for s in sysc.steps if s.call == "kill"] == ["4242, 9"]   # listed once, killed once
    assert not list(cg.rglob("minicontainer"))
    assert (cg / "cpu,cpuacct/user.slice").is_dir()


def test_v1_missing_controller_is_a_clear_error(v1_host):
    layout, sysc = v1_host
    mgr = new_manager(layout, "c1", sysc)
    del mgr.dirs["pids"]
    with pytest.raises(CgroupError, match="the pids controller is not mounted on this host, so --pids-limit"):
        mgr.apply(Limits(pids_limit=5))


def test_bad_names_are_refused(v1_host):
    layout, sysc = v1_host
    for bad in ("", "../x", "minicontainer/.."):
        with pytest.raises(UsageError):
            new_manager(layout, bad, sysc)
    with pytest.raises(UsageError):
        container_cgroup_name("a/b")


# -- v2 ------------------------------------------------------------------------
def test_v2_delegates_controllers_and_applies_limits(v2_host):
    layout, sysc = v2_host
    cg = layout.cgroup_root
    mgr = new_manager(layout, "minicontainer/c1", sysc)
    assert mgr.version == 2
    assert mgr.procs_files() == [cg / "minicontainer/c1/cgroup.procs"]   # under the root, not /init.scope
    mgr.create()
    assert sysc.writes() == [(str(cg / "cgroup.subtree_control"), "+cpuset +cpu +memory +pids"),
                             (str(cg / "minicontainer/cgroup.subtree_control"), "+cpuset +cpu +memory +pids")]
    assert (cg / "minicontainer/c1/cgroup.controllers").read_text() == "cpu cpuset memory pids"
    sysc.clear()
    mgr.apply(Limits(memory=64 << 20, memory_swap=96 << 20, cpus=1.5, cpu_shares=1024, pids_limit=50,
                     cpuset_cpus="0"))
    d = str(mgr.path)
    assert sysc.writes() == [
        (d + "/memory.max", str(64 << 20)),
        (d + "/memory.swap.max", str(32 << 20)),   # v2 counts swap alone
        (d + "/cpu.max", "150000 100000"),
        (d + "/cpu.weight", "39"),
        (d + "/pids.max", "50"),
        (d + "/cpuset.cpus", "0"),
    ]
    sysc.clear()
    mgr.apply(Limits(memory_swap=-1, pids_limit=-1))
    assert sysc.writes() == [(d + "/memory.swap.max", "max"), (d + "/pids.max", "max")]


def test_v2_stats_oom_freeze_kill_remove(v2_host):
    layout, sysc = v2_host
    mgr = new_manager(layout, "c1", sysc)
    mgr.create()
    d = mgr.path
    (d / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\n")
    (d / "memory.current").write_text("8192\n")
    (d / "memory.max").write_text("67108864\n")
    (d / "pids.current").write_text("2\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")
    s = mgr.stats()
    assert (s.cpu_usage_ns, s.memory_usage, s.memory_limit, s.pids_current, s.oom_kills, s.nr_throttled) == (
        2_500_000, 8192, 64 << 20, 2, 1, 2)
    assert mgr.oom_killed() is True
    sysc.clear()
    mgr.freeze()
    mgr.thaw()
    assert sysc.writes() == [(str(d / "cgroup.freeze"), "1"), (str(d / "cgroup.freeze"), "0")]
    (d / "cgroup.procs").write_text("77\n")
    sysc.clear()
    mgr.remove()
    assert sysc.writes() == [(str(d / "cgroup.kill"), "1")]
    assert sysc.calls()[-2:] == ["rmdir", "rmdir"]
    assert not (layout.cgroup_root / "minicontainer").exists()


def test_v2_missing_controller_file_is_a_clear_error(v2_host):
    layout, sysc = v2_host
    (layout.cgroup_root / "cgroup.controllers").write_text("memory\n")
    mgr = new_manager(layout, "c1", sysc)
    mgr.create()
    with pytest.raises(CgroupError, match="cpu.max does not exist: the controller is not enabled"):
        mgr.apply(Limits(cpus=0.5))


# -- prune -----------------------------------------------------------------------
def test_prune_finds_and_removes_leftovers(v1_host):
    layout, sysc = v1_host
    for cid in ("dead1", "alive"):
        new_manager(layout, cid, sysc).create()
    found = find_leftovers(layout)
    assert sorted(found) == ["alive", "dead1"]
    assert found["dead1"]["memory"] == layout.cgroup_root / "memory/process_api/abc/minicontainer/dead1"
    assert prune(layout, sysc, keep={"alive"}) == ["dead1"]
    assert sorted(find_leftovers(layout)) == ["alive"]
    assert prune(layout, sysc) == ["alive"]
    assert not list(layout.cgroup_root.rglob("minicontainer"))


def test_v1_kill_all_never_leaves_the_group_frozen(v1_host):
    layout, _ = v1_host

    class StuckFreezer(FakeCgroupFs):   # a task that cannot be stopped keeps it FREEZING
        def _fake_write(self, path, data):
            super()._fake_write(path, data)
            if str(path).endswith("freezer.state") and data == "FROZEN":
                Path(path).write_text("FREEZING")

    sysc = StuckFreezer(layout.cgroup_root)
    mgr = new_manager(layout, "c1", sysc)
    mgr.wait_timeout = 0.05
    mgr.create()
    mgr.procs_files()[0].write_text("4242\n")
    with pytest.raises(CgroupError, match="freezer did not reach FROZEN"):
        mgr.freeze()
    assert (mgr.dirs["freezer"] / "freezer.state").read_text() == "THAWED"
    mgr.kill_all()
    assert [s.args for s in sysc.steps if s.call == "kill"] == ["4242, 9"]
    assert (mgr.dirs["freezer"] / "freezer.state").read_text() == "THAWED"
    assert mgr.pids() == []
    mgr.remove()

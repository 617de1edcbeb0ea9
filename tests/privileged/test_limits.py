"""Resource limits through the CLI, on the real kernel: OOM, fork bomb, CPU quota, update, stats, bad input.

Backend-neutral on purpose: every figure is read through the container's cgroup manager
(v1 on this host, v2 in the cgroup2-only guest of tests/vm/test_cgroup_v2_proof.py).
"""

import json
import os
import re
import subprocess
import time

import pytest

from census import container_dirs, minicontainer_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real cgroups and namespaces")

MiB = 1 << 20
EAT_200M = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'


@pytest.fixture
def root(state_root):
    """The state root; every container still there is force-removed after the test, pass or
    fail, before state_root's leak check looks for processes and cgroups."""
    try:
        yield state_root
    finally:
        from minicontainer.runtime import Runtime
        rt = Runtime(state_root)
        for c in rt.containers.list():
            rt.remove(c.id, force=True)


def mc(cli, root, *args, timeout=60):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)


def detached(cli, root, *args):
    res = mc(cli, root, "run", "-d", "--network", "none", *args)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def inspect(cli, root, ref):
    res = mc(cli, root, "inspect", ref)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]


def manager(root, ref):
    from minicontainer.runtime import Runtime
    rt = Runtime(root)
    c = rt.containers.get(ref)
    return rt.cgroup_manager(c.id, rt.sys)


def cpu_quota(mgr) -> tuple[int, int]:
    """(quota us, period us) from cpu.cfs_* (v1) or cpu.max (v2)."""
    if mgr.version == 1:
        d = mgr.dirs["cpu"]
        return int((d / "cpu.cfs_quota_us").read_text()), int((d / "cpu.cfs_period_us").read_text())
    quota, period = (mgr.path / "cpu.max").read_text().split()
    return int(quota), int(period)


def pids_events_max(mgr) -> int:
    """How many fork()s the pids controller refused ("max N" in pids.events)."""
    path = (mgr.dirs["pids"] if mgr.version == 1 else mgr.path) / "pids.events"
    for line in path.read_text().splitlines():
        key, value = line.split()
        if key == "max":
            return int(value)
    return 0


# -- OOM ---------------------------------------------------------------------------------------

def test_memory_limit_oom_kill_is_137_and_reported(cli, root):
    res = mc(cli, root, "run", "--name", "hog", "-m", "64m", "--network", "none", "busybox", "sh", "-c",
             EAT_200M)
    assert res.returncode == 137, (res.stdout, res.stderr)
    assert "survived" not in res.stdout
    info = inspect(cli, root, "hog")
    assert info["State"]["OOMKilled"] is True and info["State"]["ExitCode"] == 137
    assert info["HostConfig"]["Memory"] == 64 * MiB


def test_exit_137_without_oom_is_not_reported_as_oom(cli, root):
    res = mc(cli, root, "run", "--name", "fake", "-m", "64m", "--network", "none", "busybox", "sh", "-c",
             "exit 137")
    assert res.returncode == 137
    assert inspect(cli, root, "fake")["State"]["OOMKilled"] is False


def test_detached_oom_kill_is_recorded_by_the_reaper(cli, root):
    cid = detached(cli, root, "--name", "dhog", "-m", "64m", "busybox", "sh", "-c", "sleep 0.2; " + EAT_200M)
    waited = mc(cli, root, "wait", "dhog", timeout=60)
    assert waited.stdout.strip() == "137", waited.stderr
    state = inspect(cli, root, "dhog")["State"]
    assert state["OOMKilled"] is True and state["Status"] == "exited"
    assert not [p for p in minicontainer_cgroups() if cid in p]      # the reaper removed the cgroup


# -- pids --------------------------------------------------------------------------------------

def _host_latency(n: int = 10) -> float:
    worst = 0.0
    for _ in range(n):
        start = time.monotonic()
        subprocess.run(["/bin/true"], check=True, timeout=10)
        worst = max(worst, time.monotonic() - start)
    return worst


def test_fork_bomb_is_contained_by_pids_limit(cli, root):
    # b | b & forks two copies of itself forever; `exec sleep` keeps PID 1 alive without forking.
    detached(cli, root, "--name", "bomb", "--pids-limit", "50", "busybox", "sh", "-c",
             "b() { b | b & }; b; exec sleep 600")
    mgr = manager(root, "bomb")
    deadline = time.monotonic() + 30
    while pids_events_max(mgr) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pids_events_max(mgr) > 0, "the bomb never reached the limit"
    peak = 0
    for _ in range(10):
        stats = mgr.stats()
        peak = max(peak, stats.pids_current)
        time.sleep(0.1)
    assert stats.pids_limit == 50 and 0 < peak <= 50
    assert _host_latency() < 2.0                      # the host still starts processes promptly
    start = time.monotonic()
    res = mc(cli, root, "rm", "-f", "bomb", timeout=60)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start < 30              # killing every process is bounded in time
    assert not mgr.exists()


# -- cpu ---------------------------------------------------------------------------------------

def test_cpus_half_keeps_a_busy_loop_near_fifty_percent(cli, root):
    detached(cli, root, "--name", "spin", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done")
    mgr = manager(root, "spin")
    assert cpu_quota(mgr) == (50_000, 100_000)
    time.sleep(0.5)
    before = mgr.stats()
    time.sleep(3.0)
    after = mgr.stats()
    from minicontainer.cgroups.stats import cpu_percent
    percent = cpu_percent(before, after)
    assert 30.0 < percent < 70.0, percent
    assert after.nr_throttled > before.nr_throttled   # the kernel's own count of throttled periods


def test_cpuset_pins_the_container(cli, root):
    cpu = sorted(os.sched_getaffinity(0))[0]
    res = mc(cli, root, "run", "--rm", "--network", "none", "--cpuset-cpus", str(cpu), "busybox",
             "grep", "Cpus_allowed_list", "/proc/self/status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-1] == str(cpu)


# -- create/start, update ------------------------------------------------------------------------

def test_create_records_limits_and_start_applies_them(cli, root):
    res = mc(cli, root, "create", "--name", "later", "--network", "none", "-m", "64m", "--pids-limit", "20",
             "--cpus", "0.5", "-c", "512", "busybox", "sleep", "60")
    assert res.returncode == 0, res.stderr
    host = inspect(cli, root, "later")["HostConfig"]
    assert (host["Memory"], host["PidsLimit"], host["NanoCpus"], host["CpuShares"]) == (64 * MiB, 20, 5 * 10**8, 512)
    mgr = manager(root, "later")
    assert not mgr.exists()                           # no cgroup before start
    assert mc(cli, root, "start", "later").returncode == 0
    stats = mgr.stats()
    assert (stats.memory_limit, stats.pids_limit) == (64 * MiB, 20)
    assert cpu_quota(mgr) == (50_000, 100_000)


def test_update_changes_a_running_container_and_persists(cli, root):
    detached(cli, root, "--name", "live", "-m", "64m", "--pids-limit", "20", "busybox", "sleep", "60")
    mgr = manager(root, "live")
    res = mc(cli, root, "update", "-m", "128m", "--pids-limit", "40", "--cpus", "0.25", "live")
    assert res.returncode == 0 and res.stdout.strip() == "live", res.stderr
    stats = mgr.stats()
    assert (stats.memory_limit, stats.pids_limit) == (128 * MiB, 40)
    assert cpu_quota(mgr) == (25_000, 100_000)
    host = inspect(cli, root, "live")["HostConfig"]
    assert (host["Memory"], host["PidsLimit"], host["NanoCpus"]) == (128 * MiB, 40, 25 * 10**7)
    # a live limit works at once: with pids.max 1 (sleep is the one), exec cannot fork into it
    assert mc(cli, root, "update", "--pids-limit", "1", "live").returncode == 0
    assert mc(cli, root, "exec", "live", "true").returncode != 0
    assert mc(cli, root, "update", "--pids-limit", "10", "live").returncode == 0
    assert mc(cli, root, "exec", "live", "true").returncode == 0
    # an inconsistent pair is refused before anything is written
    bad = mc(cli, root, "update", "--memory-swap", "100m", "live")
    assert bad.returncode != 0 and "memory" in bad.stderr
    assert mgr.stats().memory_limit == 128 * MiB


def test_update_of_a_stopped_container_applies_on_start(cli, root):
    assert mc(cli, root, "create", "--name", "cold", "--network", "none", "busybox", "sleep", "60").returncode == 0
    assert mc(cli, root, "update", "--pids-limit", "33", "cold").returncode == 0
    assert mc(cli, root, "start", "cold").returncode == 0
    assert manager(root, "cold").stats().pids_limit == 33


# -- stats -----------------------------------------------------------------------------------

def test_stats_no_stream_output_parses(cli, root):
    detached(cli, root, "--name", "small", "-m", "64m", "busybox", "sleep", "60")
    detached(cli, root, "--name", "free", "busybox", "sh", "-c", "sleep 60 & sleep 60")
    res = mc(cli, root, "stats", "--no-stream")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]
    rows = {}
    for line in lines[1:]:
        cid, name, cpu, mem, mem_pct, pids = re.split(r"\s{2,}", line.strip())
        rows[name] = (cid, cpu, mem, mem_pct, pids)
    assert set(rows) == {"small", "free"}
    cid, cpu, mem, mem_pct, pids = rows["small"]
    assert re.fullmatch(r"[0-9a-f]{12}", cid)
    assert re.fullmatch(r"\d+\.\d\d%", cpu) and re.fullmatch(r"\d+\.\d\d%", mem_pct)
    usage, limit = mem.split(" / ")
    assert limit == "64MiB" and re.fullmatch(r"[\d.]+(B|KiB|MiB)", usage)
    assert int(pids) == 1 and int(rows["free"][4]) == 2
    assert not rows["free"][2].endswith("/ 64MiB")     # no limit: shown against the host's memory
    one = mc(cli, root, "stats", "--no-stream", "small")
    assert [line.split()[1] for line in one.stdout.splitlines()[1:]] == ["small"]
    missing = mc(cli, root, "stats", "--no-stream", "nosuch")
    assert missing.returncode == 125 and "no such container" in missing.stderr


# -- bad input -------------------------------------------------------------------------------

BAD = [(["-m", "0"], "memory"), (["-m", "lots"], "memory"), (["--cpus", "-1"], "--cpus"),
       (["--cpuset-cpus", str(max(os.sched_getaffinity(0)) + 3)], "--cpuset-cpus")]


@pytest.mark.parametrize("verb", ["run", "create"])
@pytest.mark.parametrize("flags,word", BAD, ids=["m0", "mlots", "cpus-1", "cpuset"])
def test_bad_limits_are_one_line_exit_125_and_nothing_created(cli, root, verb, flags, word):
    res = mc(cli, root, verb, "--name", "never", *flags, "busybox", "true")
    assert res.returncode == 125
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("minicontainer: ") and word in lines[0], res.stderr
    # no record and no registry entry: the runtime stopped before create, and a cgroup is
    # only ever made by start, for a recorded container
    assert container_dirs(root) == []
    assert not (root / "cgroups.json").exists()


def test_bad_update_is_refused_before_anything_changes(cli, root):
    detached(cli, root, "--name", "kept", "-m", "64m", "busybox", "sleep", "60")
    for flags in (["-m", "lots"], ["--cpus", "-1"], []):
        res = mc(cli, root, "update", *flags, "kept")
        assert res.returncode == 125 and len(res.stderr.splitlines()) == 1, res.stderr
    assert manager(root, "kept").stats().memory_limit == 64 * MiB


# -- sweeping crash leftovers ------------------------------------------------------------------

def test_sweep_removes_only_this_roots_leftovers(cli, root):
    from minicontainer.runtime import Runtime
    from minicontainer.runtime.cgroup_sweep import register, registered, sweep_cgroups
    from minicontainer.runtime.names import new_id

    rt = Runtime(root)
    assert mc(cli, root, "create", "--name", "crashed", "--network", "none", "busybox", "true").returncode == 0
    crashed = rt.containers.get("crashed")
    gone, foreign = new_id(), new_id()
    register(root, gone)                                   # ours, but its record has vanished
    mgrs = {cid: rt.cgroup_manager(cid, rt.sys) for cid in (crashed.id, gone, foreign)}
    sleeper = None
    try:
        for mgr in mgrs.values():
            mgr.create()
        sleeper = subprocess.Popen(["sleep", "60"])
        mgrs[crashed.id].add_process(sleeper.pid)          # a process a crash left inside
        detached(cli, root, "--name", "alive", "busybox", "sleep", "60")
        alive = manager(root, "alive")
        # the crashed container's cgroup is seconds old and its record says "created":
        # it could be starting right now, so the default grace spares it
        # (the record-less one has no such excuse)
        assert sweep_cgroups(rt) == [gone]
        assert mgrs[crashed.id].exists()
        assert sweep_cgroups(rt, grace=0) == [crashed.id]
        assert not mgrs[crashed.id].exists() and not mgrs[gone].exists()
        assert sleeper.wait(timeout=10) == -9              # what was left inside was killed
        assert mgrs[foreign].exists()                      # another root's: left alone
        assert alive.exists()                              # running: left alone
        assert gone not in registered(root) and crashed.id in registered(root)
    finally:
        if sleeper is not None and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        for mgr in mgrs.values():
            mgr.remove()

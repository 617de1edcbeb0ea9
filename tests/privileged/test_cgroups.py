"""Real cgroups on this kernel: limits that bite, counters that tell, nothing left behind.

The backend comes from detect(), so the same tests run on this hybrid (v1) host and in a
cgroup-v2-only guest (issue 6's proof). Processes are plain forks of the test process,
each bounded in time and killed in a finally.
"""

import os
import signal
import time

import pytest

from minicontainer import paths

if os.geteuid() != 0:
    pytest.skip("needs root: real cgroups", allow_module_level=True)

from minicontainer.cgroups import Limits, detect, new_manager  # noqa: E402
from minicontainer.cgroups.stats import cpu_percent  # noqa: E402
from minicontainer.kernel.linux import LinuxSyscalls  # noqa: E402

CHILD_LIFETIME = 20.0   # no child outlives this, whatever happens to the test


def layout():
    return detect(paths.CGROUP_ROOT, paths.PROC_ROOT)


def swap_enabled() -> bool:
    return len((paths.PROC_ROOT / "swaps").read_text().splitlines()) > 1


class Child:
    """A forked process that waits for "go" (so it can be put in the cgroup first), then runs ``body``."""

    def __init__(self, body, join_files=()):
        self.go_r, self.go_w = os.pipe()
        # Made before the fork: LinuxSyscalls() runs ctypes.util.find_library, which spawns
        # ldconfig, and a child half-way through spawning is slow to freeze.
        sysc = LinuxSyscalls()
        self.pid = os.fork()
        if self.pid == 0:   # the child: never returns into pytest
            code = 1
            try:
                signal.alarm(int(CHILD_LIFETIME))   # hard bound on this process's life
                os.close(self.go_w)
                os.read(self.go_r, 1)
                for procs in join_files:             # join as the runtime's child does: write "0"
                    sysc.write_file(str(procs), "0", "join")
                body()
                code = 0
            finally:
                os._exit(code)
        os.close(self.go_r)
        self.status = None

    def go(self):
        os.write(self.go_w, b"g")
        os.close(self.go_w)

    def wait(self, timeout=CHILD_LIFETIME):
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
            elif time.monotonic() > deadline:
                raise TimeoutError(f"child {self.pid} still running")
            else:
                time.sleep(0.01)
        return self.status

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()


@pytest.fixture
def cgroup(request):
    """A real container cgroup; afterwards no process, no cgroup and no empty parent is left."""
    sysc = LinuxSyscalls()
    mgr = new_manager(layout(), f"mctest-{os.getpid()}-{request.node.name[:40]}", sysc)
    children: list[Child] = []
    mgr.create()
    try:
        yield mgr, children
    finally:
        try:
            for child in children:
                child.kill()
        finally:
            mgr.remove()
    assert not any(p.exists() for p in mgr.paths())


def busy(seconds):
    def body():
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    return body


def test_detect_matches_the_mount_table():
    lay = layout()
    assert lay.mode in ("v1", "hybrid", "v2")
    if lay.backend == "v1":
        assert "memory" in lay.v1 and "pids" in lay.v1
    else:
        assert {"memory", "pids"} <= set(lay.unified.controllers)


def test_create_join_and_remove_for_real(cgroup):
    mgr, children = cgroup
    assert all(p.is_dir() for p in mgr.paths())
    child = Child(lambda: time.sleep(0.2), join_files=mgr.procs_files())
    children.append(child)
    child.go()
    deadline = time.monotonic() + 5
    while child.pid not in mgr.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert child.pid in mgr.pids()
    own = (paths.PROC_ROOT / str(child.pid) / "cgroup").read_text()
    assert mgr.name in own
    assert os.WEXITSTATUS(child.wait()) == 0
    assert mgr.pids() == []


def test_memory_limit_ends_in_oom_kill(cgroup):
    mgr, children = cgroup
    limit = 64 << 20
    mgr.apply(Limits(memory=limit, memory_swap=limit if swap_enabled() else None))
    assert mgr.stats().memory_limit == limit

    def allocate():
        chunks = [bytearray(b"\x01") * (1 << 20) for _ in range(100)]   # 100 MiB, every page touched
        assert len(chunks) == 100

    child = Child(allocate, join_files=mgr.procs_files())
    children.append(child)
    child.go()
    status = child.wait()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL   # a shell shows 137
    assert mgr.oom_killed() is True
    assert mgr.stats().oom_kills >= 1


def test_no_oom_kill_under_the_limit(cgroup):
    mgr, children = cgroup
    mgr.apply(Limits(memory=64 << 20))
    child = Child(lambda: bytearray(b"\x01") * (8 << 20), join_files=mgr.procs_files())
    children.append(child)
    child.go()
    assert os.WEXITSTATUS(child.wait()) == 0
    assert mgr.oom_killed() is False


def test_pids_limit_contains_a_fork_bomb(cgroup):
    mgr, children = cgroup
    limit = 20
    mgr.apply(Limits(pids_limit=limit))
    assert mgr.stats().pids_limit == limit          # checked before the bomb goes off
    report_r, report_w = os.pipe()

    def bomb():
        # Every process forks up to 4 times, to depth 5 (at most 1365 processes even if the
        # limit failed), and lives until the deadline: a bounded fork bomb.
        deadline = time.monotonic() + 3
        depth = 0
        while depth < 5:
            forked = False
            for _ in range(4):
                try:
                    pid = os.fork()
                except OSError:
                    os.write(report_w, b"F")    # EAGAIN: the pids controller said no
                    continue
                if pid == 0:
                    depth += 1
                    forked = True
                    break
            if not forked:
                break
        while time.monotonic() < deadline:
            time.sleep(0.05)
        if depth:
            os._exit(0)

    child = Child(bomb)
    children.append(child)
    mgr.add_process(child.pid)
    child.go()
    os.close(report_w)
    peak = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        peak = max(peak, mgr.stats().pids_current or 0)
        time.sleep(0.02)
    started = time.monotonic()
    probe = os.fork()                    # the host still forks at once
    if probe == 0:
        os._exit(0)
    os.waitpid(probe, 0)
    assert time.monotonic() - started < 1.0
    assert peak == limit                 # it filled the limit, never more
    mgr.kill_all()
    assert mgr.pids() == []
    failures = os.read(report_r, 65536)
    os.close(report_r)
    assert failures.count(b"F") > 0
    assert os.WTERMSIG(child.wait()) == signal.SIGKILL


def test_cpu_quota_half_a_cpu(cgroup):
    mgr, children = cgroup
    mgr.apply(Limits(cpus=0.5))
    child = Child(busy(6))
    children.append(child)
    mgr.add_process(child.pid)
    child.go()
    time.sleep(0.5)                      # let it settle into the quota
    before = mgr.stats()
    time.sleep(2.0)
    after = mgr.stats()
    percent = cpu_percent(before, after)
    assert 25 <= percent <= 65, percent  # about 50 %, with room for a noisy shared host
    assert after.nr_throttled > before.nr_throttled


def test_freeze_and_thaw(cgroup):
    mgr, children = cgroup
    child = Child(busy(8))
    children.append(child)
    mgr.add_process(child.pid)
    child.go()
    time.sleep(0.2)
    mgr.freeze()
    a = mgr.stats()
    time.sleep(0.5)
    b = mgr.stats()
    assert b.cpu_usage_ns - a.cpu_usage_ns < 20_000_000    # frozen: (almost) no CPU time
    state = (paths.PROC_ROOT / str(child.pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state in ("S", "D", "t", "T")                    # not running
    mgr.thaw()
    time.sleep(0.5)
    c = mgr.stats()
    assert c.cpu_usage_ns - b.cpu_usage_ns > 50_000_000     # running again


def test_kill_all_takes_grandchildren_too(cgroup):
    mgr, children = cgroup

    def family():
        for _ in range(3):
            if os.fork() == 0:
                time.sleep(CHILD_LIFETIME)
                os._exit(0)
        time.sleep(CHILD_LIFETIME)

    child = Child(family)
    children.append(child)
    mgr.add_process(child.pid)
    child.go()
    deadline = time.monotonic() + 5
    while len(mgr.pids()) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(mgr.pids()) == 4
    mgr.kill_all()
    assert mgr.pids() == []
    assert os.WTERMSIG(child.wait()) == signal.SIGKILL


def test_remove_kills_what_is_left_and_the_hierarchy_is_clean():
    sysc = LinuxSyscalls()
    lay = layout()
    mgr = new_manager(lay, f"mctest-{os.getpid()}-remove", sysc)
    mgr.create()
    child = None
    try:
        child = Child(busy(CHILD_LIFETIME))
        mgr.add_process(child.pid)
        child.go()
        mgr.remove()                       # with a live process in it
        assert os.WTERMSIG(child.wait()) == signal.SIGKILL
    finally:
        if child is not None:
            child.kill()
        mgr.remove()
    for path in mgr.paths():
        assert not path.exists()
        parent = path.parent               # <caller>/minicontainer: gone unless another container uses it
        assert not parent.exists() or any(c.is_dir() for c in parent.iterdir())

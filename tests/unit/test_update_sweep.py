"""``update``'s merging rules, the cgroup registry, and the sweep of this root's leftover cgroups
against a fake cgroup v2 tree under tmp_path (no root needed)."""

import errno
import os
import shutil
import threading
from pathlib import Path

import pytest

from minicontainer.cgroups import Limits
from minicontainer.errors import KernelError, MiniContainerError, UsageError
from minicontainer.kernel.recording import RecordingSyscalls
from minicontainer.runtime import Runtime
from minicontainer.runtime import cgroup_sweep
from minicontainer.runtime.names import new_id
from minicontainer.runtime.state import Status
from minicontainer.runtime.update import merge, to_write

MiB = 1 << 20


# -- update: merging ---------------------------------------------------------------------------

def test_merge_replaces_only_the_named_limits():
    now = Limits(memory=64 * MiB, pids_limit=20, cpus=0.5)
    assert merge(now, Limits(pids_limit=40)) == Limits(memory=64 * MiB, pids_limit=40, cpus=0.5)


def test_merge_refuses_nothing_to_do_and_inconsistent_pairs():
    with pytest.raises(UsageError, match="one or more flags"):
        merge(Limits(memory=64 * MiB), Limits())
    with pytest.raises(UsageError, match="update --memory-swap at the same time"):
        merge(Limits(memory=64 * MiB, memory_swap=128 * MiB), Limits(memory=256 * MiB))
    with pytest.raises(UsageError, match="needs a memory limit"):
        merge(Limits(), Limits(memory_swap=128 * MiB))
    assert merge(Limits(memory=64 * MiB), Limits(memory_swap=-1)).memory_swap == -1


def test_a_memory_change_rewrites_both_memory_knobs():
    """On v2 memory.swap.max holds swap alone (memsw - memory): it must follow a new memory limit."""
    update = Limits(memory=96 * MiB)
    merged = merge(Limits(memory=64 * MiB, memory_swap=128 * MiB, pids_limit=9), update)
    assert to_write(update, merged) == Limits(memory=96 * MiB, memory_swap=128 * MiB)
    assert to_write(Limits(pids_limit=3), merged) == Limits(pids_limit=3)


# -- the registry ------------------------------------------------------------------------------

def test_registry_register_forget_and_bad_input(tmp_path):
    a, b = new_id(), new_id()
    cgroup_sweep.register(tmp_path, a)
    cgroup_sweep.register(tmp_path, b)
    assert cgroup_sweep.registered(tmp_path) == {a, b}
    cgroup_sweep.forget(tmp_path, [a])
    assert cgroup_sweep.registered(tmp_path) == {b}
    with pytest.raises(MiniContainerError, match="invalid container id"):
        cgroup_sweep.register(tmp_path, "../etc")
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".cgroups.json.")]   # no temp file left
    (tmp_path / "cgroups.json").write_text("{not json")
    with pytest.raises(MiniContainerError, match="unreadable cgroup registry"):
        cgroup_sweep.registered(tmp_path)


def test_concurrent_registrations_are_not_lost(tmp_path):
    ids = [new_id() for _ in range(40)]
    threads = [threading.Thread(target=cgroup_sweep.register, args=(tmp_path, cid)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cgroup_sweep.registered(tmp_path) == set(ids)


# -- the sweep, on a fake v2 tree ----------------------------------------------------------------

class FakeKernel(RecordingSyscalls):
    """Records every call, and plays rmdir on the fake tree (the only call a sweep of empty cgroups makes)."""

    def _run(self, call, args, why, thunk, typed):
        result = super()._run(call, args, why, thunk, typed)
        if call == "rmdir":
            path = typed["path"]
            if any(p.is_dir() for p in Path(path).iterdir()):   # the kernel refuses a cgroup with children
                raise KernelError("directory not empty (ENOTEMPTY)", op="rmdir", path=path, errno=errno.ENOTEMPTY)
            shutil.rmtree(path)
        return result


@pytest.fixture
def host(tmp_path):
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpu memory pids\n")
    (proc / "self" / "mountinfo").write_text(f"30 1 0:30 / {cg} rw - cgroup2 cgroup2 rw\n")
    (proc / "self" / "cgroup").write_text("0::/\n")
    kernel = FakeKernel()
    return Runtime(tmp_path / "state", kernel, proc_root=proc, cgroup_root=cg), cg, proc, kernel


def leftover(cg: Path, cid: str) -> Path:
    d = cg / "minicontainer" / cid
    d.mkdir(parents=True)
    (d / "cgroup.procs").write_text("")
    return d


def record(rt, name: str, status: Status, pid: int = 0):
    c = rt.containers.create(name=name, image="busybox", image_id="sha256:" + "0" * 64, command=["true"],
                             config={})
    cgroup_sweep.register(rt.root, c.id)
    c.status, c.pid, c.finished_at = status.value, pid, 1.0
    rt.containers.save(c)
    return c


def test_sweep_removes_this_roots_leftovers_only(host):
    rt, cg, proc, kernel = host
    exited = record(rt, "exited", Status.EXITED)
    running = record(rt, "running", Status.RUNNING, pid=4242)
    (proc / "4242").mkdir()
    (proc / "4242" / "stat").write_text("4242 (sleep) S " + " ".join(["7"] * 30) + "\n")  # alive
    running.pid_start = 7
    rt.containers.save(running)
    gone = new_id()
    cgroup_sweep.register(rt.root, gone)           # ours, record vanished
    foreign = new_id()                             # another state root's
    forgotten = new_id()
    cgroup_sweep.register(rt.root, forgotten)      # ours, nothing left at all
    for cid in (exited.id, running.id, gone, foreign):
        leftover(cg, cid)

    removed = cgroup_sweep.sweep_cgroups(rt, grace=0)

    assert sorted(removed) == sorted([exited.id, gone])
    assert sorted(p.name for p in (cg / "minicontainer").iterdir()) == sorted([running.id, foreign])
    # no kill (nothing was inside): each cgroup, then a try at the shared parent, still in use
    assert [s.call for s in kernel.steps] == ["rmdir"] * 4
    assert cgroup_sweep.registered(rt.root) == {exited.id, running.id}


def test_a_young_cgroup_of_a_container_not_yet_running_is_spared(host):
    rt, cg, _proc, _kernel = host
    starting = record(rt, "starting", Status.CREATED)
    starting.finished_at = 0.0
    rt.containers.save(starting)
    leftover(cg, starting.id)
    assert cgroup_sweep.sweep_cgroups(rt) == []          # could be mid-start
    assert cgroup_sweep.sweep_cgroups(rt, grace=0) == [starting.id]

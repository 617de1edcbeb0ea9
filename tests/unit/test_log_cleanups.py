"""Clean-up steps that may fail without failing their caller still leave a trace in the debug log
(``--log-level debug``), and only the failure they tolerate is tolerated: scratch trees, a
container listing racing a removal, ``runc list``, prune's orphan monitors and leftover mounts."""

import errno
import json
import types

import pytest

from minicontainer import files
from minicontainer.errors import KernelError, MiniContainerError, NotFoundError
from minicontainer.kernel import RecordingSyscalls


def test_discard_tree_removes_and_records_what_it_could_not(tmp_path, debug_stream, monkeypatch):
    tree = tmp_path / "scratch"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "f").write_text("x")
    files.discard_tree(tree, "engine")
    assert not tree.exists() and debug_stream.getvalue() == ""

    tree.mkdir()

    def busy(path):
        raise OSError(errno.EBUSY, "Device or resource busy", str(path))
    monkeypatch.setattr(files, "remove_tree", busy)
    files.discard_tree(tree, "engine")                       # tolerated ...
    line = debug_stream.getvalue()
    assert "logger=minicontainer.engine" in line             # ... and recorded, naming the tree
    assert f"remove a scratch tree: {tree}: " in line and "busy" in line.lower()


def test_discard_tree_lets_a_bug_through(tmp_path, monkeypatch):
    def bug(path):
        raise TypeError("not a path")
    monkeypatch.setattr(files, "remove_tree", bug)
    with pytest.raises(TypeError):
        files.discard_tree(tmp_path)


def test_container_list_records_an_unreadable_record(tmp_path, fake_host, debug_stream):
    from minicontainer.runtime import Runtime
    proc, cg = fake_host
    rt = Runtime(tmp_path / "state", RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    good = rt.containers.create(name="good", image="busybox", image_id="sha256:x", command=["true"], config={})
    bad = rt.containers.create(name="bad", image="busybox", image_id="sha256:x", command=["true"], config={})
    (bad.dir / "state.json").write_text("{half a record")
    assert [c.id for c in rt.containers.list()] == [good.id]
    out = debug_stream.getvalue()
    assert f"list: {bad.dir}" in out and "unreadable state" in out


class _RuncStore:
    """ids() and state() as minicontainer-runc's store answers them, one id per behaviour."""

    def ids(self):
        return ["gone", "broken", "ok"]

    def state(self, cid):
        if cid == "gone":
            raise NotFoundError("container 'gone' does not exist", op="state")
        if cid == "broken":
            raise MiniContainerError("unreadable state: expecting value", op="state", path="/r/broken/state.json")
        return {"id": cid, "status": "running", "pid": 7, "bundle": "/b", "created": "", "owner": ""}


def test_runc_list_skips_a_removed_container_and_names_an_unreadable_one(capsys, debug_stream):
    from minicontainer.runc.commands import list_
    list_(_RuncStore(), types.SimpleNamespace(format="json", quiet=False))
    out, err = capsys.readouterr()
    assert [s["id"] for s in json.loads(out)] == ["ok"]
    assert err.startswith("load container broken: ") and err.count("\n") == 1      # as runc says it
    assert "list: gone: " in debug_stream.getvalue() and "broken" not in debug_stream.getvalue()


def _rt_with_orphan(tmp_path, fake_host, fail):
    from minicontainer.runtime import Runtime
    proc, cg = fake_host
    rt = Runtime(tmp_path / "state", RecordingSyscalls(fail=fail), proc_root=proc, cgroup_root=cg)
    cid = "c" * 64
    (proc / "4242").mkdir()
    (proc / "4242" / "cmdline").write_bytes(
        b"\0".join([b"/usr/lib/minicontainer/mc-monitor", b"-x", f"{rt.root}/containers/{cid}/exit".encode(), b"1"]))
    return rt, cid


def test_prune_tolerates_a_monitor_gone_meanwhile(tmp_path, fake_host, debug_stream):
    from minicontainer.runtime.prune import kill_orphan_monitors
    rt, cid = _rt_with_orphan(tmp_path, fake_host, {"kill": errno.ESRCH})
    assert kill_orphan_monitors(rt, known=set()) == ([], set())
    assert f"kill an orphan monitor: {cid}" in debug_stream.getvalue()


def test_prune_reports_a_monitor_it_may_not_kill(tmp_path, fake_host):
    from minicontainer.runtime.prune import kill_orphan_monitors
    rt, _ = _rt_with_orphan(tmp_path, fake_host, {"kill": errno.EPERM})
    with pytest.raises(KernelError, match="operation not permitted"):
        kill_orphan_monitors(rt, known=set())


def test_prune_records_a_mount_it_could_not_detach(tmp_path, fake_host, debug_stream):
    from minicontainer.runtime import Runtime
    from minicontainer.runtime.prune import sweep_mounts
    proc, cg = fake_host
    rt = Runtime(tmp_path / "state", RecordingSyscalls(fail={"umount2": errno.EINVAL}), proc_root=proc, cgroup_root=cg)
    below = f"{rt.root}/containers/x/merged"
    with open(proc / "self" / "mountinfo", "a") as f:
        f.write(f"99 30 0:50 / {below} rw - overlay overlay rw\n"
                f"98 30 0:51 / {below}/proc rw - proc proc rw\n")
    assert sweep_mounts(rt) == [f"{below}"]                  # the deepest failed, the next one went
    assert f"unmount a leftover: {below}/proc" in debug_stream.getvalue()

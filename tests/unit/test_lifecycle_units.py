"""Lifecycle pieces without root: volume parsing and store, the volume mount plan (recorded),
symlink resolution inside a root, cp's placement rules, ps filters/templates, prune sweeps."""

import errno
import json
import os

import pytest

from minicontainer.errors import ConflictError, KernelError, NotFoundError, UsageError
from minicontainer.kernel import RecordingSyscalls
from minicontainer.kernel import constants as C
from minicontainer.oci.build import volume_mounts
from minicontainer.oci.mounts import mount_call
from minicontainer.rootfs import RootfsPlan, mount_all, resolve_in_root
from minicontainer.runtime import volumes as V


# ----------------------------------------------------------------------------- volume flags
def test_parse_volume_kinds(tmp_path):
    bind = V.parse_volume(f"{tmp_path}:/data:ro")
    assert (bind["type"], bind["source"], bind["target"], bind["readonly"]) == ("bind", str(tmp_path), "/data", True)
    named = V.parse_volume("cache:/var/cache")
    assert (named["type"], named["name"], named["readonly"]) == ("volume", "cache", False)
    anon = V.parse_volume("/scratch")
    assert anon["type"] == "volume" and anon["anonymous"] and anon["name"] == ""
    assert V.parse_volume("/scratch:ro")["readonly"]


@pytest.mark.parametrize("spec", ["", "rel/dir:/x", "/x:rel", "/x:/y:rx", "a:b:c:d", "v:/", "v:/a/../b", ":/x",
                                  "/does/not/exist/anywhere:/x"])
def test_parse_volume_rejects(spec):
    with pytest.raises(UsageError):
        V.parse_volume(spec)


def test_tmpfs_flags_and_duplicates():
    rec = V.parse_tmpfs("/t:size=1m,exec")
    flags, data = V.tmpfs_mount_args(rec["options"])
    assert data == "size=1m" and flags == C.MS_NOSUID | C.MS_NODEV
    assert V.tmpfs_mount_args("")[0] == C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC
    with pytest.raises(UsageError):
        V.parse_tmpfs("/t:bogus")
    with pytest.raises(UsageError, match="duplicate mount point"):
        V.parse_all(["/a"], ["/a"])


def test_mounts_for_orders_shallow_first():
    recs = [{"type": "tmpfs", "source": "tmpfs", "target": "/a/b", "readonly": False, "options": ""},
            {"type": "bind", "source": "/h", "target": "/a", "readonly": True, "options": ""}]
    assert [m["target"] for m in V.mounts_for(recs)] == ["/a", "/a/b"]


# ----------------------------------------------------------------------------- volume store
def test_volume_store_lifecycle_and_in_use(tmp_path):
    from minicontainer.runtime.containers import ContainerStore
    store = V.VolumeStore(tmp_path)
    with store.lock():
        vol, made = store.create("data")
        again, made2 = store.create("data")
    assert made and not made2 and vol.data.is_dir() and again.name == "data"
    ContainerStore(tmp_path).create(name="user", image="busybox", image_id="sha256:x", command=["true"],
                                    config={"volumes": [{"type": "volume", "name": "data"}]})
    with pytest.raises(ConflictError, match="in use"):
        store.remove("data")
    with pytest.raises(NotFoundError):
        store.remove("nope")
    with pytest.raises(UsageError):
        store.get("../escape")
    with store.lock():
        anon, _ = store.create(anonymous=True)
    assert store.prune() == [anon.name]
    assert [v.name for v in store.ls()] == ["data"]


# ----------------------------------------------------------------------------- mounts, recorded
def test_mount_volumes_plan_is_recorded(tmp_path):
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    vols = V.mounts_for([V.parse_volume(f"{tmp_path}:/etc:ro"), V.parse_tmpfs("/run/t:size=1m")])
    plan = RootfsPlan(layers=[str(layer)], upper=str(tmp_path / "upper"), work=str(tmp_path / "work"),
                      root=str(tmp_path / "merged"), mounts=[mount_call(m) for m in volume_mounts(vols)])
    sys = RecordingSyscalls()
    mount_all(sys, plan)
    merged = str(tmp_path / "merged")
    got = [(s.call, s.args) for s in sys.steps]
    assert got == [
        ("mount", f"{tmp_path}, {merged}/etc, none, MS_BIND|MS_REC"),
        ("mount", f"none, {merged}/etc, none, MS_RDONLY|MS_REMOUNT|MS_BIND"),
        ("mkdir", f"{merged}/run, 755"),
        ("mkdir", f"{merged}/run/t, 755"),
        ("mount", f"tmpfs, {merged}/run/t, tmpfs, MS_NOSUID|MS_NODEV|MS_NOEXEC, size=1m"),
    ], got


def test_mount_volumes_error_is_a_kernel_error(tmp_path):
    plan = RootfsPlan(layers=[str(tmp_path)], upper=str(tmp_path), work=str(tmp_path), root=str(tmp_path / "m"),
                      mounts=[mount_call(m) for m in volume_mounts(V.mounts_for([V.parse_volume(f"{tmp_path}:/x")]))])
    sys = RecordingSyscalls(fail={"mount": errno.EPERM})
    with pytest.raises(KernelError, match="EPERM") as info:
        mount_all(sys, plan)
    assert info.value.errno == errno.EPERM and info.value.op == "mount"


# ----------------------------------------------------------------------------- resolve_in_root
def test_resolve_in_root_keeps_links_inside(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../..", root / "up")
    os.symlink("loop", root / "loop")
    assert resolve_in_root(str(root), "/abs/passwd") == str(root / "etc" / "passwd")
    assert resolve_in_root(str(root), "/up/etc") == str(root / "etc")
    assert resolve_in_root(str(root), "/../../etc") == str(root / "etc")
    assert resolve_in_root(str(root), "/abs", follow_last=False) == str(root / "abs")
    with pytest.raises(UsageError, match="symbolic links"):
        resolve_in_root(str(root), "/loop/x")


# ----------------------------------------------------------------------------- cp rules
def test_copy_in_never_writes_through_a_container_link(tmp_path):
    from minicontainer.runtime.copy import copy_in, copy_out, split_ref
    root = tmp_path / "ctr"
    (root / "etc").mkdir(parents=True)
    outside = tmp_path / "host-etc"
    outside.mkdir()
    os.symlink(str(outside), root / "danger")           # an absolute host path, as a container could plant
    os.symlink("/etc", root / "etclink")
    src = tmp_path / "f.txt"
    src.write_text("x")
    copy_in(str(root), str(src), "/etclink/")           # the container's /etc, not the host's
    assert (root / "etc" / "f.txt").read_text() == "x"
    with pytest.raises(NotFoundError):                  # resolved inside root: no such parent there
        copy_in(str(root), str(src), str(outside) + "/g")
    assert not (outside / "g").exists()
    os.symlink(str(outside / "victim"), root / "etc" / "planted")
    copy_in(str(root), str(src), "/etc/planted")        # a link in the way is replaced
    assert not (outside / "victim").exists() and (root / "etc" / "planted").read_text() == "x"
    report = copy_out(str(root), "/etc/.", str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path / "out")) == ["f.txt", "planted"] and report["files"] == 2
    assert split_ref("web:/etc") == ("web", "/etc") and split_ref("./a:b") == (None, "./a:b")


# ----------------------------------------------------------------------------- ps
def test_ps_filters_and_templates():
    from types import SimpleNamespace
    from minicontainer.cli.containers import matches, parse_filters, render
    from minicontainer.runtime import Status
    c = SimpleNamespace(name="web", id="ab" * 32, image="busybox", image_id="sha256:" + "cd" * 32,
                        state=Status.EXITED, exit_code=3)
    assert matches(c, parse_filters(["status=exited", "name=we", "name=zz", "exited=3", "ancestor=busybox"]))
    assert not matches(c, parse_filters(["id=ff"]))
    assert matches(c, parse_filters(["ancestor=cdcd"]))
    with pytest.raises(UsageError):
        parse_filters(["status=sleepy"])
    rows = [{"ID": "abc", "Names": "web"}]
    assert render("{{.ID}}-{{.Names}}", rows) == ["abc-web"]
    assert render("table {{.ID}}\\t{{.Names}}", rows) == ["CONTAINER ID   NAMES", "abc            web"]
    assert json.loads(render("{{json .}}", rows)[0]) == rows[0]
    with pytest.raises(UsageError, match="can't evaluate field Bad"):
        render("{{.Bad}}", rows)


# ----------------------------------------------------------------------------- prune sweeps
def _fake_runtime(tmp_path):
    from minicontainer.runtime import Runtime
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    return Runtime(tmp_path / "state", RecordingSyscalls(), proc_root=proc, cgroup_root=tmp_path / "cg")


def test_sweep_state_dirs(tmp_path):
    from minicontainer.runtime.prune import sweep_state_dirs
    rt = _fake_runtime(tmp_path)
    good = rt.containers.create(name="good", image="b", image_id="i", command=["true"], config={})
    base = rt.containers.dir
    for name in (".new-" + "a" * 64, ".rm-" + "b" * 64, "c" * 64):
        (base / name).mkdir()
    (base / ("c" * 64) / "state.json").write_text("{torn")
    (good.dir / ".state.json.999999999").write_text("{}")
    removed, ids = sweep_state_dirs(rt)
    assert ids == {"a" * 64, "b" * 64, "c" * 64}
    assert sorted(os.listdir(base)) == [".lock", good.id]
    assert not (good.dir / ".state.json.999999999").exists() and len(removed) == 4


def test_monitors_and_mount_sweep_from_fake_proc(tmp_path):
    from minicontainer.runtime.prune import kill_orphan_monitors, monitors, sweep_mounts
    rt = _fake_runtime(tmp_path)
    cid = "d" * 64
    (rt.proc_root / "4242").mkdir()
    exit_file = f"{rt.root}/containers/{cid}/exit"
    (rt.proc_root / "4242" / "cmdline").write_bytes(b"\0".join([b"mc-monitor", b"7", exit_file.encode(), b"x", b""]))
    assert monitors(rt.root, rt.proc_root) == {4242: cid}
    removed, ids = kill_orphan_monitors(rt, known=set())
    assert ids == {cid} and rt.sys.steps[-1].call == "kill" and rt.sys.steps[-1].args == "4242, 9"
    (rt.proc_root / "self" / "mountinfo").write_text(
        f"1 0 0:1 / / rw - ext4 /dev/x rw\n2 1 0:2 / {rt.root}/containers/{cid}/merged rw - overlay o rw\n")
    assert sweep_mounts(rt) == [f"{rt.root}/containers/{cid}/merged"]
    assert rt.sys.steps[-1].call == "umount2"

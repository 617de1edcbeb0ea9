"""Images on the real kernel: overlay merge semantics with translated whiteouts, commit
then run, two containers from one image kept apart, save -> load -> run, export/import."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile

import pytest

if os.geteuid() != 0:
    pytest.skip("needs root: overlay mounts, whiteout device nodes, trusted.* xattrs", allow_module_level=True)

from minicontainer.images import archive, changes  # noqa: E402
from minicontainer.images.commit import commit  # noqa: E402
from minicontainer.images.store import ImageStore  # noqa: E402
from minicontainer.kernel import constants as C  # noqa: E402
from minicontainer.kernel.linux import LinuxSyscalls  # noqa: E402
from minicontainer.overlay import overlay_options  # noqa: E402


def mc(cli, root, *args, timeout=60):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)


def _tar(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data.encode()))


def in_private_mount_namespace(fn):
    """Run ``fn()`` in a forked child inside a new mount namespace; return its JSON result.

    Whatever the child mounts disappears with it, even if the test fails."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # child: never returns
        os.close(r)
        try:
            sc = LinuxSyscalls()
            sc.unshare(C.CLONE_NEWNS, why="a private mount namespace for this test")
            sc.mount(None, "/", None, C.MS_REC | C.MS_PRIVATE, None, why="do not leak mounts to the host")
            result = {"ok": fn(sc)}
        except BaseException as err:               # reported to the parent
            result = {"error": repr(err)}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b'{"error": "child died"}')
    assert "error" not in result, result["error"]
    return result["ok"]


def test_overlay_merge_semantics_with_translated_whiteouts(tmp_path):
    store = ImageStore(tmp_path / "state", LinuxSyscalls())
    base, top = tmp_path / "base.tar", tmp_path / "top.tar"
    _tar(base, [("a", None), ("a/keep", "k"), ("a/gone", "g"), ("d", None), ("d/old", "o"), ("f", "lower")])
    _tar(top, [("a", None), ("a/.wh.gone", ""), ("d", None), ("d/.wh..wh..opq", ""), ("d/new", "n"),
               ("f", "upper")])
    lowers = [store.layer_dir(archive.add_layer_tar(store, t)) for t in (base, top)]
    # the top layer holds overlay's own markers now: a 0/0 device and the opaque xattr
    st = os.lstat(lowers[1] / "a/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(lowers[1] / "d", "trusted.overlay.opaque") == b"y"
    upper, work, merged = (tmp_path / n for n in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()

    def inside(sc):
        sc.mount("overlay", str(merged), "overlay", 0, overlay_options(lowers, upper, work), why="union of layers")
        seen = {"a": sorted(os.listdir(merged / "a")), "d": sorted(os.listdir(merged / "d")),
                "f": (merged / "f").read_text()}
        (merged / "a/keep").write_text("changed")                 # copy-up on write
        os.unlink(merged / "f")                                    # whiteout on delete
        (merged / "newfile").write_text("new")
        sc.umount2(str(merged), 0, why="done")
        return seen

    seen = in_private_mount_namespace(inside)
    assert seen == {"a": ["keep"], "d": ["new"], "f": "upper"}
    assert (lowers[0] / "a/keep").read_text() == "k"               # the image is untouched
    assert (upper / "a/keep").read_text() == "changed"             # the copy lives in upper
    st = os.lstat(upper / "f")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0            # the kernel's whiteout
    assert changes.diff(upper, lowers) == [("C", "/a"), ("C", "/a/keep"), ("D", "/f"), ("A", "/newfile")]
    # and back: the upper dir becomes a layer tar with .wh. entries
    cfg = {"rootfs": {"type": "layers", "diff_ids": [f"sha256:{p.name}" for p in lowers]}, "config": {}}
    img = store.add_image(cfg, ["t:1"])
    new = commit(store, img, upper, tags=["t:2"], created_by="test")
    with tarfile.open(store.blob_path(new.diff_ids[-1])) as tar:
        names = tar.getnames()
    assert names == ["a", "a/keep", ".wh.f", "newfile"] or sorted(names) == sorted(["a", "a/keep", ".wh.f", "newfile"])
    st = os.lstat(new.layer_dirs[-1] / "f")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_commit_then_run_sees_the_change(cli, state_root):
    res = mc(cli, state_root, "run", "--name", "c1", "busybox", "sh", "-c",
             "echo committed > /etc/motd && rm /usr/bin/wget && mkdir /data && echo x > /data/f")
    assert res.returncode == 0, res.stderr
    diff = mc(cli, state_root, "diff", "c1")
    assert diff.returncode == 0, diff.stderr
    lines = set(diff.stdout.splitlines())
    assert {"C /etc", "A /etc/motd", "C /usr/bin", "D /usr/bin/wget", "A /data", "A /data/f"} <= lines, lines
    res = mc(cli, state_root, "commit", "-m", "add motd", "c1", "snap:1")
    assert res.returncode == 0 and res.stdout.startswith("sha256:"), res.stderr
    out = mc(cli, state_root, "run", "--rm", "snap:1", "sh", "-c", "cat /etc/motd /data/f; test -e /usr/bin/wget")
    assert out.stdout == "committed\nx\n" and out.returncode == 1
    base = mc(cli, state_root, "run", "--rm", "busybox", "sh", "-c", "test -e /etc/motd || test -e /usr/bin/wget")
    assert base.returncode == 0                                     # the base image is unchanged
    hist = mc(cli, state_root, "history", "snap:1").stdout.splitlines()
    assert len(hist) == 3 and "add motd" in hist[1] and "commit c1" in hist[1]
    busybox, snap = ImageStore(state_root).resolve("busybox"), ImageStore(state_root).resolve("snap:1")
    assert snap.diff_ids[:1] == busybox.diff_ids and len(snap.diff_ids) == 2   # the base layer is shared
    # rmi refuses while c1 (made from busybox) exists; snap has no container
    refused = mc(cli, state_root, "rmi", "busybox")
    assert refused.returncode == 125 and "being used by container c1" in refused.stderr
    assert mc(cli, state_root, "rmi", "snap:1").returncode == 0
    assert os.path.isdir(busybox.layer_dirs[0])                    # still used by busybox


def test_two_containers_from_one_image_are_isolated(cli, state_root):
    for name in ("a", "b"):
        res = mc(cli, state_root, "run", "--name", name, "busybox", "sh", "-c", f"echo {name} > /tmp/x")
        assert res.returncode == 0, res.stderr
    assert mc(cli, state_root, "diff", "a").stdout.splitlines() == mc(cli, state_root, "diff", "b").stdout.splitlines()
    from minicontainer.runtime.containers import ContainerStore
    cs = ContainerStore(state_root)
    assert (cs.get("a").upper_dir / "tmp/x").read_text() == "a\n"
    assert (cs.get("b").upper_dir / "tmp/x").read_text() == "b\n"
    image = ImageStore(state_root).resolve("busybox")
    assert not (image.layer_dirs[0] / "tmp/x").exists()
    fresh = mc(cli, state_root, "run", "--rm", "busybox", "cat", "/tmp/x")
    assert fresh.returncode != 0


def test_save_load_run_and_export_import(cli, state_root, tmp_path):
    res = mc(cli, state_root, "run", "--name", "e", "busybox", "sh", "-c", "echo exported > /etc/motd; rm /bin/ls")
    assert res.returncode == 0, res.stderr
    assert mc(cli, state_root, "commit", "e", "saved:1").returncode == 0
    out = tmp_path / "images.tar"
    res = mc(cli, state_root, "save", "saved:1", "busybox", "-o", str(out))
    assert res.returncode == 0, res.stderr
    other = tmp_path / "other"
    res = mc(cli, other, "load", "-i", str(out))
    assert res.returncode == 0, res.stderr
    assert "Loaded image: saved:1" in res.stdout and "Loaded image: busybox:latest" in res.stdout
    a, b = ImageStore(state_root), ImageStore(other)
    assert a.resolve("saved:1").id == b.resolve("saved:1").id
    assert a.resolve("saved:1").diff_ids == b.resolve("saved:1").diff_ids
    ran = mc(cli, other, "run", "--rm", "saved:1", "cat", "/etc/motd")
    assert ran.stdout == "exported\n", ran.stderr
    flat = tmp_path / "rootfs.tar"
    assert mc(cli, state_root, "export", "e", "-o", str(flat)).returncode == 0
    with tarfile.open(flat) as tar:
        names = set(tar.getnames())
    assert "etc/motd" in names and "bin/ls" not in names and "bin/busybox" in names
    assert not any(".wh." in n for n in names)
    res = mc(cli, other, "import", str(flat), "flat:1")
    assert res.returncode == 0, res.stderr
    assert len(b.resolve("flat:1").diff_ids) == 1
    ran = mc(cli, other, "run", "--rm", "flat:1", "sh", "-c", "cat /etc/motd; test -e /bin/ls")
    assert ran.stdout == "exported\n" and ran.returncode == 1

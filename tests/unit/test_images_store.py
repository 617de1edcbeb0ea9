"""The image store: busybox base image, resolve, tags, removal (no root needed)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tarfile

import pytest

from minicontainer.errors import ConflictError, NotFoundError, UsageError
from minicontainer.images import reference
from minicontainer.images.busybox import find_busybox
from minicontainer.images.store import ImageStore
from minicontainer.paths import HOST_BUSYBOX_CANDIDATES


def _has_busybox():
    try:
        find_busybox(HOST_BUSYBOX_CANDIDATES)
        return True
    except NotFoundError:
        return False


needs_busybox = pytest.mark.skipif(not _has_busybox(), reason="needs busybox-static on the host")


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "state")


def test_reference_parsing():
    assert reference.split_ref("busybox") == ("busybox", "latest")
    assert reference.split_ref("busybox:1.36") == ("busybox", "1.36")
    assert reference.split_ref("localhost:5000/app") == ("localhost:5000/app", "latest")
    assert reference.normalize("a/b:v1") == "a/b:v1"
    for bad in ("", "Busybox", "a:", "a b", "a@sha256:00", ":tag", "a/../b"):
        with pytest.raises(UsageError):
            reference.split_ref(bad)


def test_resolve_missing_says_which(store):
    with pytest.raises(NotFoundError) as exc:
        store.resolve("foo")
    assert "no such image: foo:latest" in str(exc.value)
    assert not (store.root / "tmp").exists()      # a read creates nothing


@needs_busybox
def test_ensure_busybox_builds_a_real_image(store):
    img = store.ensure_busybox()
    assert img.ref == "busybox:latest" and img.repo_tags == ["busybox:latest"]
    assert img.config["Cmd"] == ["sh"]
    assert img.config["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    # the id is the digest of the config blob; the layer blob's digest is its diff_id
    raw = store.blob_path(img.id).read_bytes()
    import hashlib
    assert img.id == "sha256:" + hashlib.sha256(raw).hexdigest()
    cfg = json.loads(raw)
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": img.diff_ids}
    assert len(cfg["history"]) == 1 and "busybox" in cfg["history"][0]["created_by"]
    blob = store.blob_path(img.diff_ids[0])
    assert img.diff_ids[0] == "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    assert img.size == blob.stat().st_size
    # the unpacked layer: busybox, applets, /etc files, mount points, /tmp sticky
    layer = img.layer_dirs[0]
    assert layer == store.root / "layers" / img.diff_ids[0][7:]
    assert os.access(layer / "bin/busybox", os.X_OK)
    assert os.readlink(layer / "bin/sh") == "busybox"
    assert (layer / "usr/bin/wget").resolve() == (layer / "bin/busybox").resolve()
    assert (layer / "etc/passwd").read_text().startswith("root:x:0:0:")
    for f in ("etc/group", "etc/hosts", "etc/hostname"):
        assert (layer / f).is_file()
    assert oct((layer / "tmp").stat().st_mode & 0o7777) == oct(0o1777)
    assert (layer / "root").is_dir() and (layer / "proc").is_dir() and (layer / "dev").is_dir()
    # the tar holds the same tree, owned by root
    with tarfile.open(blob) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert names["bin/busybox"].isfile() and names["bin/sh"].issym()
    assert all(m.uid == 0 and m.gid == 0 for m in names.values())
    assert "etc/passwd" in names and "tmp" in names
    # a second call finds it; nothing left in tmp/
    again = store.ensure_busybox()
    assert again.id == img.id
    assert os.listdir(store.root / "tmp") == []


@needs_busybox
def test_busybox_is_reproducible(tmp_path):
    a = ImageStore(tmp_path / "a").ensure_busybox()
    b = ImageStore(tmp_path / "b").ensure_busybox()
    assert a.id == b.id and a.diff_ids == b.diff_ids


@needs_busybox
def test_resolve_by_id_and_prefix(store):
    img = store.ensure_busybox()
    assert store.resolve(img.id).id == img.id
    assert store.resolve(img.id[7:19]).id == img.id
    assert store.resolve("busybox:latest").layer_dirs == img.layer_dirs
    with pytest.raises(NotFoundError):
        store.resolve("sha256:" + "0" * 64)


def _make(root, queue):
    try:
        queue.put(ImageStore(root).ensure_busybox().id)
    except Exception as err:  # reported to the parent
        queue.put(repr(err))


@needs_busybox
def test_concurrent_first_use_gives_one_image(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_make, args=(tmp_path / "s", queue)) for _ in range(4)]
    for p in procs:
        p.start()
    try:
        ids = [queue.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
    assert len(set(ids)) == 1 and ids[0].startswith("sha256:"), ids
    store = ImageStore(tmp_path / "s")
    assert len(os.listdir(store.root / "layers")) == 1
    assert os.listdir(store.root / "tmp") == []


def test_no_static_busybox_names_the_package(store, tmp_path):
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    with pytest.raises(NotFoundError) as exc:
        store.ensure_busybox(busybox=fake)
    assert "busybox-static" in str(exc.value)
    assert not (store.root / "layers").exists() or os.listdir(store.root / "layers") == []


@needs_busybox
def test_tag_rmi_prune(store):
    img = store.ensure_busybox()
    store.tag("busybox", "mine:v1")
    assert sorted(store.resolve("mine:v1").repo_tags) == ["busybox:latest", "mine:v1"]
    with pytest.raises(ConflictError):
        store.remove("busybox", in_use={img.id: ["c1"]})
    with pytest.raises(ConflictError):
        store.remove(img.id[7:19])          # by id while two names point at it: needs -f
    assert store.remove("mine:v1") == ["Untagged: mine:v1"]
    lines = store.remove("busybox")
    assert lines[0] == "Untagged: busybox:latest" and lines[1] == f"Deleted: {img.id}"
    assert os.listdir(store.root / "layers") == [] and os.listdir(store.blobs) == []
    with pytest.raises(NotFoundError):
        store.resolve("busybox")
    assert store.prune() == []


def test_resolve_imports_no_heavy_modules(tmp_path):
    code = ("import sys; from minicontainer.images.store import ImageStore; "
            "from minicontainer.errors import NotFoundError\n"
            f"try: ImageStore({str(tmp_path)!r}).resolve('busybox')\n"
            "except NotFoundError: pass\n"
            "bad = [m for m in ('tarfile', 'gzip', 'psutil', 'pyroute2', 'shlex') if m in sys.modules]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]", out.stderr


def test_progress_bar_only_on_a_terminal():
    import io
    from minicontainer.images.progress import Progress
    quiet = io.StringIO()
    bar = Progress(100, "loading", quiet)
    bar(50)
    bar.close()
    assert quiet.getvalue() == "" and bar.done == 50               # a StringIO is not a tty
    loud = io.StringIO()
    bar = Progress(100, "loading", loud, force=True)
    bar(100)
    bar.close()
    assert "loading [" in loud.getvalue() and "100.0%" in loud.getvalue()


def test_cli_pull_from_an_unreachable_registry_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    """Names other than plain busybox come from a registry (docker pull's exit code 1 on failure);
    here the default registry is a loopback port nobody listens on, so no traffic leaves the host."""
    from minicontainer.cli import main
    from minicontainer.registry.server import free_port
    port = free_port()
    monkeypatch.setenv("MINICONTAINER_REGISTRY", f"127.0.0.1:{port}")
    assert main(["--root", str(tmp_path), "pull", "alpine"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"minicontainer: registry: 127.0.0.1:{port}: GET /v2/library/alpine/manifests/latest failed")
    assert not (tmp_path / "images").exists()


@needs_busybox
def test_cli_images_lists_busybox(tmp_path, capsys):
    from minicontainer.cli import main
    assert main(["--root", str(tmp_path), "pull", "busybox"]) == 0
    capsys.readouterr()
    assert main(["--root", str(tmp_path), "images"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:2] == ["busybox", "latest"] and lines[1].endswith("MB")

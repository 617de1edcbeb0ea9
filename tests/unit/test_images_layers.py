"""Layer tars: writing, whiteout translation both ways, confined unpacking, digests,
commit/diff on plain directories, save/load manifests (no root needed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile

import pytest

from minicontainer.errors import ImageError, UsageError
from minicontainer.images import archive, changes, whiteouts as wh
from minicontainer.images.digest import HashingWriter, check_digest
from minicontainer.images.extract import Unpacker, clean_name, safe_mode, unpack_file
from minicontainer.images.store import ImageStore
from minicontainer.images.tarreader import TarReader, parse_pax
from minicontainer.images.tarwriter import write_layer
from minicontainer.kernel import RecordingSyscalls


def make_tar(path, entries, *, gz=False):
    """entries: (name, kind, payload) with kind in file/dir/sym/link/chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            data = None
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size, info.mode = len(data), 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, (info.devmajor, info.devminor) = tarfile.CHRTYPE, payload
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def tree(root):
    """{relpath: kind/content} of a directory, links not followed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "-> " + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            elif stat.S_ISCHR(st.st_mode):
                out[rel] = f"chr {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            else:
                with open(p, "rb") as f:
                    out[rel] = f.read().decode()
    return out


# -- names, modes, pax, digests -------------------------------------------------------
def test_clean_name_refuses_escapes():
    assert clean_name("./a//b/./c/") == ["a", "b", "c"]
    for bad in ("/etc/passwd", "../x", "a/../../x", "a/.."):
        with pytest.raises(ImageError):
            clean_name(bad)


def test_safe_mode_drops_dangerous_bits():
    assert safe_mode("0", 0o4755, True) == 0o4755          # a root-owned setuid binary stays
    assert safe_mode("0", 0o4777, True) == 0o0777          # setuid + world-writable: dropped
    assert safe_mode("0", 0o4755, False) == 0o0755         # unpacking as non-root: dropped
    assert safe_mode("0", 0o1644, True) == 0o644           # sticky only means something on dirs
    assert safe_mode("5", 0o1777, True) == 0o1777


def test_pax_records_parsed_strictly():
    assert parse_pax(b"16 path=abc/def\n") == {"path": "abc/def"}
    for bad in (b"99 path=x\n", b"x path=x\n", b"9 pathx\n", b"5 a=b\n"):
        with pytest.raises(ImageError):
            parse_pax(bad)


def test_check_digest():
    assert check_digest("sha256:" + "a" * 64) == "a" * 64
    for bad in ("sha256:" + "A" * 64, "md5:00", "sha256:../../etc", "a" * 64):
        with pytest.raises(ImageError):
            check_digest(bad)


# -- whiteouts both ways ---------------------------------------------------------------
def test_oci_whiteout_names():
    assert wh.oci_entry("etc/.wh.motd") == (wh.WHITEOUT, "etc/motd")
    assert wh.oci_entry(".wh.tmp") == (wh.WHITEOUT, "tmp")
    assert wh.oci_entry("var/cache/.wh..wh..opq") == (wh.OPAQUE, "var/cache")
    assert wh.oci_entry("etc/motd") == (wh.PLAIN, "etc/motd")
    assert wh.oci_whiteout_name("etc/motd") == "etc/.wh.motd"
    assert wh.oci_opaque_name("var/cache") == "var/cache/.wh..wh..opq"


def test_unpack_turns_oci_whiteouts_into_overlay_ones(tmp_path):
    layer = tmp_path / "l.tar"
    make_tar(layer, [("etc", "dir", None), ("etc/.wh.motd", "file", ""), ("var/cache", "dir", None),
                     ("var/cache/.wh..wh..opq", "file", ""), ("var/cache/new", "file", "n")])
    rec = RecordingSyscalls()
    unpack_file(layer, tmp_path / "out", rec)
    steps = [(s.call, s.args) for s in rec.steps]
    assert ("mknod", f"{tmp_path}/out/etc/motd, c 0:0, 0") in steps
    assert ("setxattr", f"{tmp_path}/out/var/cache, trusted.overlay.opaque=b'y'") in steps
    assert not (tmp_path / "out/etc/.wh.motd").exists()      # the marker is not left as a file
    assert (tmp_path / "out/var/cache/new").read_text() == "n"


def test_unpack_apply_mode_deletes(tmp_path):
    base, top = tmp_path / "base.tar", tmp_path / "top.tar"
    make_tar(base, [("a", "file", "1"), ("d", "dir", None), ("d/old", "file", "o"), ("keep", "file", "k")])
    make_tar(top, [("d", "dir", None), ("d/.wh..wh..opq", "file", ""), ("d/new", "file", "n"),
                   (".wh.a", "file", "")])
    dest = tmp_path / "flat"
    for src in (base, top):
        with open(src, "rb") as f:
            Unpacker(dest, None, whiteouts="apply").run(TarReader(f))
    assert tree(dest) == {"d": "dir", "d/new": "n", "keep": "k"}


def test_upper_dir_whiteouts_become_wh_entries(tmp_path):
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    try:
        os.mknod(upper / "etc/motd", stat.S_IFCHR, 0)          # overlay's whiteout (unprivileged since 5.8)
    except PermissionError:
        pytest.skip("this kernel refuses unprivileged whiteout creation")
    (upper / "opq").mkdir()
    try:
        os.setxattr(upper / "opq", "user.overlay.opaque", b"y")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    (upper / "opq/f").write_text("x")
    out = io.BytesIO()
    write_layer(upper, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = [(m.name, m.type) for m in tar.getmembers()]
    assert names == [("etc", tarfile.DIRTYPE), ("etc/.wh.motd", tarfile.REGTYPE), ("opq", tarfile.DIRTYPE),
                     ("opq/.wh..wh..opq", tarfile.REGTYPE), ("opq/f", tarfile.REGTYPE)]


# -- tar writing / round trip -----------------------------------------------------------------
def test_write_layer_is_sorted_deterministic_and_keeps_links(tmp_path):
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "b/z").write_text("z")
    (src / "a").write_text("a")
    os.link(src / "a", src / "b/hard")
    os.symlink("/proc/mounts", src / "mtab")           # absolute targets are legitimate content
    first, second = io.BytesIO(), io.BytesIO()
    write_layer(src, first, mtime=0, owner=(0, 0))
    write_layer(src, second, mtime=0, owner=(0, 0))
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == ["a", "b", "b/hard", "b/z", "mtab"]
    assert members["b/hard"].islnk() and members["b/hard"].linkname == "a"
    assert members["mtab"].issym() and members["mtab"].linkname == "/proc/mounts"
    layer = tmp_path / "l.tar"
    layer.write_bytes(first.getvalue())
    digest, stats = unpack_file(layer, tmp_path / "out", None, same_owner=False)
    assert digest == "sha256:" + hashlib.sha256(first.getvalue()).hexdigest()
    assert tree(tmp_path / "out") == tree(src)
    assert os.stat(tmp_path / "out/a").st_ino == os.stat(tmp_path / "out/b/hard").st_ino


def test_digest_mismatch_removes_partial_unpack(tmp_path):
    layer = tmp_path / "l.tar"
    make_tar(layer, [("f", "file", "data")])
    with pytest.raises(ImageError, match="digest mismatch"):
        unpack_file(layer, tmp_path / "out", None, expect_digest="sha256:" + "0" * 64)
    assert not (tmp_path / "out").exists()


def test_hashing_writer_counts(tmp_path):
    sink = io.BytesIO()
    w = HashingWriter(sink)
    w.write(b"abc")
    assert w.digest == "sha256:" + hashlib.sha256(b"abc").hexdigest() and w.size == 3


# -- diff and commit on plain directories ----------------------------------------------------
def test_diff_reports_a_c_d(tmp_path):
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/passwd").write_text("root")
    (lower / "etc/motd").write_text("hi")
    (lower / "cache").mkdir()
    (lower / "cache/old").write_text("o")
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/passwd").write_text("root\nme")
    try:
        os.mknod(upper / "etc/motd", stat.S_IFCHR, 0)
    except PermissionError:
        pytest.skip("this kernel refuses unprivileged whiteout creation")
    (upper / "new").mkdir()
    (upper / "new/file").write_text("x")
    assert changes.diff(upper, [lower]) == [("C", "/etc"), ("D", "/etc/motd"), ("C", "/etc/passwd"),
                                            ("A", "/new"), ("A", "/new/file")]


def test_diff_missing_upper(tmp_path):
    with pytest.raises(ImageError):
        changes.diff(tmp_path / "nope", [])


# -- manifests: docker-save (legacy), OCI layout only, our own save --------------------------
def _config(diff_ids):
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [{"created_by": "x"}] * len(diff_ids)}).encode()


def _pack(path, files: dict, links: dict = ()):
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)


def test_load_legacy_docker_save_with_gzip_layer_and_symlinked_repeat(tmp_path):
    l1 = tmp_path / "l1.tar"
    d1 = make_tar(l1, [("hello", "file", "world")])
    gz = gzip.compress(l1.read_bytes())
    cfg = _config([d1, d1])
    cid = hashlib.sha256(cfg).hexdigest()
    arc = tmp_path / "save.tar"
    _pack(arc, {f"{cid}.json": cfg, "aaa/layer.tar": gz,
                "manifest.json": json.dumps([{"Config": f"{cid}.json", "RepoTags": ["hello:1"],
                                              "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]).encode(),
                "repositories": json.dumps({"hello": {"1": "aaa"}}).encode()},
          {"bbb/layer.tar": "../aaa/layer.tar"})
    store = ImageStore(tmp_path / "s")
    [img] = archive.load(store, arc)
    assert img.id == f"sha256:{cid}" and img.repo_tags == ["hello:1"] and img.diff_ids == [d1, d1]
    assert (img.layer_dirs[0] / "hello").read_text() == "world"
    assert store.blob_path(d1).read_bytes() == l1.read_bytes()     # stored uncompressed: digest = diff_id
    assert os.listdir(store.root / "tmp") == []


def test_load_oci_layout_without_docker_manifest(tmp_path):
    l1 = tmp_path / "l1.tar"
    d1 = make_tar(l1, [("f", "file", "1")])
    layer_gz = gzip.compress(l1.read_bytes())
    lg = "sha256:" + hashlib.sha256(layer_gz).hexdigest()
    cfg = _config([d1])
    cd = "sha256:" + hashlib.sha256(cfg).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "config": {"mediaType": archive.OCI_CONFIG, "digest": cd, "size": len(cfg)},
                           "layers": [{"digest": lg, "size": len(layer_gz),
                                       "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}]}).encode()
    md = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": archive.OCI_MANIFEST, "digest": md, "size": len(manifest),
         "annotations": {"io.containerd.image.name": "docker.io/library/app:2"}}]}).encode()
    arc = tmp_path / "oci.tar"
    _pack(arc, {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index,
                f"blobs/sha256/{md[7:]}": manifest, f"blobs/sha256/{cd[7:]}": cfg,
                f"blobs/sha256/{lg[7:]}": layer_gz})
    [img] = archive.load(ImageStore(tmp_path / "s"), arc)
    assert img.id == cd and img.repo_tags == ["app:2"] and img.diff_ids == [d1]


def test_save_load_round_trip_keeps_digests(tmp_path):
    layer = tmp_path / "l.tar"
    make_tar(layer, [("etc", "dir", None), ("etc/motd", "file", "hi")])
    a = ImageStore(tmp_path / "a")
    diff_id = archive.add_layer_tar(a, layer)
    img = a.add_image(json.loads(_config([diff_id])), ["app:1"])
    out = tmp_path / "out.tar"
    archive.save(a, ["app:1"], out)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        docker = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
    assert {"oci-layout", "index.json", "manifest.json", f"blobs/sha256/{img.id[7:]}"} <= names
    assert docker == [{"Config": f"blobs/sha256/{img.id[7:]}", "RepoTags": ["app:1"],
                       "Layers": [f"blobs/sha256/{diff_id[7:]}"]}]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/app:1"
    b = ImageStore(tmp_path / "b")
    [back] = archive.load(b, out)
    assert (back.id, back.diff_ids, back.repo_tags) == (img.id, img.diff_ids, ["app:1"])
    out2 = tmp_path / "out2.tar"
    archive.save(b, ["app:1"], out2)
    assert out2.read_bytes() == out.read_bytes()                    # byte-identical: same digests


def test_save_needs_images(tmp_path):
    with pytest.raises(UsageError):
        archive.save(ImageStore(tmp_path), [], tmp_path / "x.tar")

"""A corpus of hostile or broken archives, generated here; each must be refused with a
clear one-line error, leave nothing half-unpacked, and write nothing outside the store."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from minicontainer.errors import ImageError
from minicontainer.images import archive
from minicontainer.images.extract import unpack_file
from minicontainer.images.store import ImageStore


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _negative_size() -> bytes:
    """A header whose size field is base-256 -1 (CVE-2025-8194 made tarfile loop on it)."""
    info = tarfile.TarInfo("neg")
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[124:136] = b"\xff" * 12
    header[148:156] = b" " * 8
    header[148:155] = f"{sum(header):06o}\0".encode()
    return bytes(header) + bytes(1024)


def _symlink_chain(outside: str) -> bytes:
    """A long chain of symlinks that ends outside, then a write through it (CVE-2025-4517 style)."""
    entries = [("d", "dir", None)]
    entries += [(f"l{i}", "sym", f"l{i + 1}") for i in range(40)]
    entries += [("l40", "sym", outside), ("l0/pwned", "file", "x")]
    return _tar(entries)


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_text("original")
    return d


def _layer_cases(outside):
    return {
        "dotdot": (_tar([("../escaped", "file", "x")]), "escapes the layer root"),
        "dotdot-deep": (_tar([("a/../../escaped", "file", "x")]), "escapes the layer root"),
        "absolute": (_tar([(f"{outside}/abs", "file", "x")]), "absolute path"),
        "symlink-then-write": (_tar([("link", "sym", str(outside)), ("link/pwned", "file", "x")]),
                               "through a symlink"),
        "relative-symlink-then-write": (_tar([("link", "sym", "../../../../../../" + str(outside).lstrip("/")),
                                              ("link/pwned", "file", "x")]), "through a symlink"),
        "symlink-chain": (_symlink_chain(str(outside)), "through a symlink"),
        "hardlink-outside": (_tar([("h", "link", "../outside/victim")]), "escapes the layer root"),
        "hardlink-absolute": (_tar([("h", "link", f"{outside}/victim")]), "absolute path"),
        "hardlink-through-symlink": (_tar([("s", "sym", str(outside)), ("h", "link", "s/victim")]),
                                     "not earlier in this layer"),
        "device-node": (_tar([("dev/mem", "chr", None)]), "device node"),
        "negative-size": (_negative_size(), "negative size"),
        "bad-checksum": (b"x" * 512 + bytes(1024), "checksum"),
        "truncated-data": (_tar([("big", "file", "y" * 5000)])[:1536], "truncated"),
        "huge-pax": (b"".join([_pax_header(2 << 20)]), "over the"),
    }


def _pax_header(size: int) -> bytes:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, size
    return info.tobuf(format=tarfile.USTAR_FORMAT) + bytes(1024)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", ["dotdot", "dotdot-deep", "absolute", "symlink-then-write",
                                  "relative-symlink-then-write", "symlink-chain", "hardlink-outside",
                                  "hardlink-absolute", "hardlink-through-symlink", "device-node",
                                  "negative-size", "bad-checksum", "truncated-data", "huge-pax"])
def test_hostile_layer_is_refused(tmp_path, outside, case):
    data, message = _layer_cases(outside)[case]
    layer = tmp_path / "layer.tar"
    layer.write_bytes(data)
    dest = tmp_path / "store" / "unpacked"
    dest.parent.mkdir()
    with pytest.raises(ImageError) as exc:
        unpack_file(layer, dest, None, same_owner=False)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    assert not dest.exists()                                   # the partial unpack is gone
    assert sorted(os.listdir(outside)) == ["victim"]           # nothing written outside
    assert (outside / "victim").read_text() == "original"
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "store" / "escaped").exists()


def test_truncated_gzip_layer(tmp_path):
    layer = tmp_path / "l.tar.gz"
    layer.write_bytes(gzip.compress(_tar([("f", "file", "z" * 100_000)]))[:-40])
    with pytest.raises(ImageError, match="gzip"):
        unpack_file(layer, tmp_path / "out", None)
    assert not (tmp_path / "out").exists()


# -- whole archives through ``load`` ----------------------------------------------------------
def _archive(path, files: dict):
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _good_parts():
    layer = _tar([("hello", "file", "world")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}).encode()
    return layer, diff_id, cfg, hashlib.sha256(cfg).hexdigest()


def _load_refused(tmp_path, files, message):
    arc = tmp_path / "a.tar"
    _archive(arc, files)
    store = ImageStore(tmp_path / "state")
    with pytest.raises(ImageError) as exc:
        archive.load(store, arc)
    assert message in str(exc.value)
    assert os.listdir(store.root / "tmp") == []               # staging removed
    assert os.listdir(store.root / "layers") == []            # no layer half-added
    assert store.list() == []
    return str(exc.value)


def test_layer_digest_mismatch(tmp_path):
    layer, diff_id, _, _ = _good_parts()
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}}).encode()
    cid = hashlib.sha256(cfg).hexdigest()
    _load_refused(tmp_path, {f"{cid}.json": cfg, "l/layer.tar": layer, "manifest.json": json.dumps(
        [{"Config": f"{cid}.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]).encode()}, "digest mismatch")


def test_config_digest_mismatch(tmp_path):
    layer, _, cfg, cid = _good_parts()
    wrong = "2" * 64
    _load_refused(tmp_path, {f"{wrong}.json": cfg, "l/layer.tar": layer, "manifest.json": json.dumps(
        [{"Config": f"{wrong}.json", "RepoTags": [], "Layers": ["l/layer.tar"]}]).encode()}, "digest mismatch")


def test_manifest_names_missing_blob(tmp_path):
    layer, _, cfg, cid = _good_parts()
    _load_refused(tmp_path, {f"{cid}.json": cfg, "manifest.json": json.dumps(
        [{"Config": f"{cid}.json", "RepoTags": [], "Layers": ["gone/layer.tar"]}]).encode()}, "missing blob")


def test_malformed_json(tmp_path):
    _load_refused(tmp_path, {"manifest.json": b"[{not json"}, "malformed JSON")


def test_hostile_layer_inside_archive(tmp_path, outside):
    layer = _tar([("../../outside/victim", "file", "pwned")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cid = hashlib.sha256(cfg).hexdigest()
    _load_refused(tmp_path, {f"{cid}.json": cfg, "l/layer.tar": layer, "manifest.json": json.dumps(
        [{"Config": f"{cid}.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]).encode()},
        "escapes the layer root")
    assert (outside / "victim").read_text() == "original"


def test_archive_member_symlink_outside(tmp_path):
    arc = tmp_path / "a.tar"
    with tarfile.open(arc, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    store = ImageStore(tmp_path / "state")
    with pytest.raises(ImageError, match="outside the archive"):
        archive.load(store, arc)
    assert os.listdir(store.root / "tmp") == []


def test_truncated_gzip_archive(tmp_path):
    layer, _, cfg, cid = _good_parts()
    raw = tmp_path / "a.tar"
    _archive(raw, {f"{cid}.json": cfg, "l/layer.tar": layer, "manifest.json": json.dumps(
        [{"Config": f"{cid}.json", "RepoTags": [], "Layers": ["l/layer.tar"]}]).encode()})
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(gzip.compress(raw.read_bytes())[:-100])
    store = ImageStore(tmp_path / "state")
    with pytest.raises(ImageError, match="gzip"):
        archive.load(store, gz)
    assert os.listdir(store.root / "tmp") == [] and store.list() == []

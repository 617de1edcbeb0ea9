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
    """A tar of ``{name: bytes}``; a value ``("sym", target)`` makes a symlink member."""
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
                continue
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
    assert not store.blobs.exists() or os.listdir(store.blobs) == []   # no blob
    assert store.list() == []                                  # no image, no tag
    assert "\n" not in str(exc.value)
    assert "/images/tmp/" not in str(exc.value)                # names the member, not our staged copy
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
    _load_refused(tmp_path, {"manifest.json": ("sym", "/etc/passwd")}, "outside the archive")


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


# -- strict image-spec rules (minicontainer.images.spec), one archive per rule ----------------
def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _oci(layer: bytes | None = None, *, layout=None, cfg=None, manifest=None, index=None, layer_desc=None,
         extra=None) -> dict:
    """The members of an OCI layout tar; each keyword replaces (or edits, when callable) one part."""
    layer = _tar([("hello", "file", "world")]) if layer is None else layer
    cfg = cfg or {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}
    cfg_raw = json.dumps(cfg).encode()
    ldesc = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _sha(layer), "size": len(layer)}
    ldesc.update(layer_desc or {})
    man = {"schemaVersion": 2, "mediaType": archive.OCI_MANIFEST,
           "config": {"mediaType": archive.OCI_CONFIG, "digest": _sha(cfg_raw), "size": len(cfg_raw)},
           "layers": [ldesc]}
    man = manifest(man) if callable(manifest) else man
    man_raw = json.dumps(man).encode()
    idx = {"schemaVersion": 2, "mediaType": archive.OCI_INDEX,
           "manifests": [{"mediaType": archive.OCI_MANIFEST, "digest": _sha(man_raw), "size": len(man_raw),
                          "annotations": {"io.containerd.image.name": "docker.io/library/x:1"}}]}
    idx = index(idx) if callable(index) else idx
    files = {"oci-layout": json.dumps(layout or {"imageLayoutVersion": "1.0.0"}).encode(),
             "index.json": json.dumps(idx).encode()}
    for blob in (layer, cfg_raw, man_raw):
        files[f"blobs/sha256/{_sha(blob)[7:]}"] = blob
    files.update(extra or {})
    return files


def _docker(layers: list[bytes], diff_ids=None, **cfg_over) -> dict:
    cfg = {"rootfs": {"type": "layers", "diff_ids": diff_ids if diff_ids is not None else [_sha(x) for x in layers]}}
    cfg.update(cfg_over)
    raw = json.dumps(cfg).encode()
    files = {f"{_sha(raw)[7:]}.json": raw}
    files.update({f"l{n}/layer.tar": x for n, x in enumerate(layers)})
    files["manifest.json"] = json.dumps([{"Config": f"{_sha(raw)[7:]}.json", "RepoTags": ["x:1"],
                                          "Layers": [f"l{n}/layer.tar" for n in range(len(layers))]}]).encode()
    return files


def test_good_oci_layout_loads(tmp_path):
    arc = tmp_path / "a.tar"
    _archive(arc, _oci())
    [img] = archive.load(ImageStore(tmp_path / "state"), arc)
    assert img.repo_tags == ["x:1"]


def test_descriptor_negative_size(tmp_path):
    msg = _load_refused(tmp_path, _oci(layer_desc={"size": -1}), "layer 0 size -1 is negative")
    assert msg.startswith("load: blobs/sha256/")                 # names the manifest blob


def test_descriptor_absurd_size(tmp_path):
    _load_refused(tmp_path, _oci(layer_desc={"size": 1 << 62}), "size 4611686018427387904 is over the")


def test_descriptor_size_differs_from_blob(tmp_path):
    _load_refused(tmp_path, _oci(layer_desc={"size": 3}), "its descriptor says 3 (descriptor.md: size)")


def test_descriptor_unknown_media_type(tmp_path):
    _load_refused(tmp_path, _oci(layer_desc={"mediaType": "application/x-rar"}),
                  "unknown layer 0 mediaType 'application/x-rar'")


def test_descriptor_digest_syntax(tmp_path):
    layer = _tar([("hello", "file", "world")])
    _load_refused(tmp_path, _oci(layer, layer_desc={"digest": _sha(layer).upper()}), "malformed digest")
    _load_refused(tmp_path, _oci(layer, layer_desc={"digest": _sha(layer)[:-1]}), "64 lower-case hex digits")
    _load_refused(tmp_path, _oci(layer, layer_desc={"digest": "md5:" + "0" * 32}), "unsupported digest algorithm")


def test_unknown_image_layout_version(tmp_path):
    assert _load_refused(tmp_path, _oci(layout={"imageLayoutVersion": "2.0.0"}),
                         "unknown imageLayoutVersion '2.0.0'").startswith("load: oci-layout: ")


def test_config_rootfs_type_not_layers(tmp_path):
    layer = _tar([("hello", "file", "world")])
    _load_refused(tmp_path, _oci(layer, cfg={"rootfs": {"type": "tarball", "diff_ids": [_sha(layer)]}}),
                  "rootfs.type 'tarball' is not \"layers\"")


def test_config_diff_ids_count_differs_docker_save(tmp_path):
    layer = _tar([("hello", "file", "world")])
    msg = _load_refused(tmp_path, _docker([layer], diff_ids=[_sha(layer), _sha(layer)]),
                        "lists 2 diff_ids, the manifest 1 layers")
    assert ".json" in msg                                        # names the config member


def test_blob_both_manifest_and_index(tmp_path):
    def both(man):
        man["manifests"] = [dict(man["config"], mediaType=archive.OCI_MANIFEST)]
        return man
    _load_refused(tmp_path, _oci(manifest=both), "both manifests and config/layers")


def test_index_json_both_manifest_and_index(tmp_path):
    def both(idx):
        idx["layers"] = []
        return idx
    assert _load_refused(tmp_path, _oci(index=both), "both manifests and config/layers").startswith(
        "load: index.json: ")


def test_schema_version_not_2(tmp_path):
    _load_refused(tmp_path, _oci(manifest=lambda m: {**m, "schemaVersion": 1}), "schemaVersion 1 is not 2")
    _load_refused(tmp_path, _oci(index=lambda i: {**i, "schemaVersion": 3}), "schemaVersion 3 is not 2")


def test_manifest_media_type_contradicts_document(tmp_path):
    _load_refused(tmp_path, _oci(manifest=lambda m: {**m, "mediaType": archive.OCI_INDEX}),
                  "does not match the document, which is a manifest")


def test_docker_manifest_json_malformed(tmp_path):
    files = _docker([_tar([("hello", "file", "world")])])
    files["manifest.json"] = json.dumps([{"Config": "c.json", "Layers": "l0/layer.tar"}]).encode()
    assert _load_refused(tmp_path, files, "Layers must be a list").startswith("load: manifest.json: ")


def test_layer_root_dot_symlink(tmp_path):
    layer = _tar([(".", "sym", "/etc"), ("hello", "file", "world")])
    _load_refused(tmp_path, _docker([layer]), "layer root entry '.' is a symlink, not a directory")


def test_archive_member_dot_symlink(tmp_path):
    files = _docker([_tar([("hello", "file", "world")])])
    files["."] = ("sym", "l0")
    _load_refused(tmp_path, files, "archive member '.' must be a directory")


def test_whiteout_with_empty_target(tmp_path):
    layer = _tar([("etc", "dir", None), ("etc/.wh.", "file", "")])
    msg = _load_refused(tmp_path, _docker([layer]), "whiteout with an empty target name")
    assert "etc/.wh." in msg


def _pax_tar(name: str, linkname: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("placeholder")
        info.pax_headers = {"path": name}
        tar.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


def test_entry_name_with_nul(tmp_path):
    _load_refused(tmp_path, _docker([_pax_tar("etc/pass\0wd")]), "NUL byte in an entry name")


def test_entry_name_absolute_and_dotdot(tmp_path):
    _load_refused(tmp_path, _docker([_tar([("/etc/x", "file", "x")])]), "absolute path in archive")
    _load_refused(tmp_path, _docker([_tar([("a/../../x", "file", "x")])]), "escapes the layer root")


def test_archive_member_name_escapes(tmp_path):
    files = _docker([_tar([("hello", "file", "world")])])
    files["../evil"] = b"x"
    _load_refused(tmp_path, files, "escapes the layer root")


def test_nothing_stored_when_a_later_image_is_refused(tmp_path):
    good = _tar([("hello", "file", "world")])
    bad = _tar([("etc", "dir", None), ("etc/.wh.", "file", "")])
    cfgs = [json.dumps({"rootfs": {"type": "layers", "diff_ids": [_sha(x)]}}).encode() for x in (good, bad)]
    files = {f"{_sha(c)[7:]}.json": c for c in cfgs}
    files.update({"good/layer.tar": good, "bad/layer.tar": bad})
    files["manifest.json"] = json.dumps([
        {"Config": f"{_sha(cfgs[0])[7:]}.json", "RepoTags": ["good:1"], "Layers": ["good/layer.tar"]},
        {"Config": f"{_sha(cfgs[1])[7:]}.json", "RepoTags": ["bad:1"], "Layers": ["bad/layer.tar"]}]).encode()
    _load_refused(tmp_path, files, "whiteout with an empty target name")   # good:1 and its layer absent too


def test_archives_written_by_skopeo_pass_strict_validation(tmp_path):
    """The strict rules accept what a real tool writes: skopeo's OCI archive and docker-archive."""
    import shutil
    import subprocess
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (scripts/install-system-deps.sh installs it)")
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_tar([("etc", "dir", None), ("etc/motd", "file", "hi\n")]))
    src = ImageStore(tmp_path / "src")
    image = archive.import_rootfs(src, rootfs, ["app:1"])
    archive.save(src, ["app:1"], tmp_path / "ours.tar")
    for transport, tag in (("oci-archive", "app:oci"), ("docker-archive", "app:docker")):
        out = tmp_path / f"{transport}.tar"
        subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{tmp_path / 'ours.tar'}", f"{transport}:{out}:{tag}"],
                       check=True, capture_output=True, timeout=60)
        [loaded] = archive.load(ImageStore(tmp_path / transport), out)
        assert loaded.id == image.id and loaded.diff_ids == image.diff_ids


@pytest.mark.parametrize("name", [".wh...", "etc/.wh...", "etc/.wh.."])
@pytest.mark.parametrize("whiteouts", ["overlay", "apply"])
def test_whiteout_of_dot_or_dotdot_is_refused(tmp_path, name, whiteouts):
    """``.wh...`` names the parent of its directory: at the layer root that is the staging
    area's own directory, whose other entries it would delete."""
    layer = tmp_path / "layer.tar"
    layer.write_bytes(_tar([("etc", "dir", None), (name, "file", "")]))
    stage = tmp_path / "tmp"
    stage.mkdir()
    (stage / "sibling").write_text("another writer's staging")
    with pytest.raises(ImageError, match="whiteout of '\\.\\.?' in archive"):
        unpack_file(layer, stage / "unpacked", None, whiteouts=whiteouts, same_owner=False)
    assert os.listdir(stage) == ["sibling"] and (stage / "sibling").read_text() == "another writer's staging"

"""Images in and out of the store as files: save, load, import, export.

``save`` writes an **OCI image layout** (image-spec ``image-layout.md``) as a tar:
``oci-layout``, ``index.json`` pointing at a *manifest* per image, and every blob under
``blobs/sha256/``. A manifest lists the config blob and the layer blobs by digest and
size. The same tar also carries Docker's ``manifest.json`` (config path, layer paths,
RepoTags), which is what ``docker load`` and ``podman load`` look for, so one file
serves both. ``load`` reads that, older docker-save archives (``<id>/layer.tar`` plus
``manifest.json`` and ``repositories``), and plain OCI layouts, gzipped or not.

Loading trusts nothing: archive members are read by the bounded reader into a flat
staging area (no member is ever created as a link on disk; symlinks between members,
which old docker-save uses for repeated layers, are resolved by name, inside the
archive only), every document is held to the image-spec rules (:mod:`.spec`: sizes,
media types, digests, versions, manifest-or-index, rootfs), every blob's size and digest
are checked against its descriptor, and every layer's uncompressed digest against the
config's ``diff_ids`` while it is unpacked. All or nothing: every layer of every image
is unpacked into staging before the first one enters the store.

``import`` turns a root filesystem tar into a one-layer image; ``export`` flattens an
image plus a container's upper directory into one plain tree and tars it.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path

from ..errors import ImageError, UsageError
from . import reference
from . import spec
from . import tarreader as T
from .digest import HashingWriter, file_digest, sha256_bytes
from .store import Image, ImageStore, remove_tree

from .spec import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST  # noqa: F401  (re-exported)
_HEX = re.compile(r"[0-9a-f]{64}")


def _dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# -- save ------------------------------------------------------------------------
def save(store: ImageStore, refs: list[str], out: Path, *, progress=None) -> None:
    """Write the images ``refs`` to ``out`` as an OCI layout + docker manifest.json tar."""
    import tarfile
    if not refs:
        raise UsageError("save needs at least one image", op="save")
    images = [(ref, store.resolve(ref)) for ref in refs]
    blobs: dict[str, bytes | Path] = {}
    index, docker = [], []
    for ref, img in images:
        config = store.config_bytes(img.id)
        blobs[img.id] = config
        layers = [{"mediaType": OCI_LAYER, "digest": d, "size": store.blob_path(d).stat().st_size}
                  for d in img.diff_ids]
        for d in img.diff_ids:
            blobs[d] = store.blob_path(d)
        manifest = _dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": img.id, "size": len(config)},
                           "layers": layers})
        mdigest = sha256_bytes(manifest)
        blobs[mdigest] = manifest
        tags = [t for t in img.repo_tags if t == _maybe_ref(ref)] or ([] if _is_id(ref) else img.repo_tags[:1])
        desc = {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": len(manifest)}
        if tags:
            name, tag = reference.split_ref(tags[0])
            desc["annotations"] = {"io.containerd.image.name": _docker_name(tags[0]),
                                   "org.opencontainers.image.ref.name": tag}
        index.append(desc)
        docker.append({"Config": f"blobs/sha256/{img.id[7:]}", "RepoTags": tags,
                       "Layers": [f"blobs/sha256/{d[7:]}" for d in img.diff_ids]})
    meta = {"oci-layout": _dumps({"imageLayoutVersion": "1.0.0"}),
            "index.json": _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}),
            "manifest.json": _dumps(docker)}
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        with open(tmp, "wb") as f, tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name in ("blobs", "blobs/sha256"):
                tar.addfile(_tarinfo(tarfile, name, 0, tarfile.DIRTYPE))
            for digest in sorted(blobs):
                _add(tarfile, tar, f"blobs/sha256/{digest[7:]}", blobs[digest], progress)
            for name, data in meta.items():
                _add(tarfile, tar, name, data, progress)
        os.replace(tmp, out)
    except OSError as err:
        raise ImageError(f"cannot write: {err.strerror.lower()}", op="save", path=out) from err
    finally:
        if tmp.exists():
            tmp.unlink()
    for ref, img in images:
        store.event("save", img.id, ref)


def _is_id(ref: str) -> bool:
    return ref.startswith("sha256:") or bool(re.fullmatch(r"[0-9a-f]{6,64}", ref))


def _maybe_ref(ref: str):
    try:
        return reference.normalize(ref)
    except UsageError:
        return None


def _docker_name(tag: str) -> str:
    name, t = reference.split_ref(tag)
    if "/" not in name:
        name = "library/" + name
    if "." not in name.split("/")[0] and ":" not in name.split("/")[0]:
        name = "docker.io/" + name
    return f"{name}:{t}"


def _tarinfo(tarfile, name: str, size: int, kind):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime, info.uid, info.gid = kind, size, 0, 0, 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def _add(tarfile, tar, name: str, src, progress) -> None:
    import io
    if isinstance(src, bytes):
        tar.addfile(_tarinfo(tarfile, name, len(src), tarfile.REGTYPE), io.BytesIO(src))
        size = len(src)
    else:
        size = src.stat().st_size
        with open(src, "rb") as f:
            tar.addfile(_tarinfo(tarfile, name, size, tarfile.REGTYPE), f)
    if progress is not None:
        progress(size)


# -- reading an archive's members safely --------------------------------------------
class Members:
    """Regular members of an archive, copied to flat files in ``stage``; links resolved by name."""

    def __init__(self, stage: Path) -> None:
        self.stage = stage
        self.files: dict[str, Path] = {}
        self.links: dict[str, str] = {}

    def read_archive(self, path, progress=None) -> None:
        from .extract import clean_name, open_layer
        stream = open_layer(path, progress)
        try:
            reader = T.TarReader(stream)
            for n, entry in enumerate(reader):
                name = "/".join(clean_name(entry.name))
                if not name and entry.type != T.DIR:
                    raise ImageError("archive member '.' must be a directory", op="load", path=entry.name)
                if entry.type == T.REG:
                    flat = self.stage / f"m{n}"
                    fd = os.open(flat, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                    try:
                        reader.copy_to(fd)
                    finally:
                        os.close(fd)
                    self.files[name] = flat
                elif entry.type == T.SYM:
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), entry.linkname))
                    if entry.linkname.startswith("/") or target.startswith("../") or target == "..":
                        raise ImageError("symlink pointing outside the archive", op="load", path=entry.name)
                    self.links[name] = target
                elif entry.type == T.LNK:
                    self.links[name] = "/".join(clean_name(entry.linkname))
                elif entry.type != T.DIR:
                    raise ImageError("unexpected special file in image archive", op="load", path=entry.name)
        finally:
            stream.close()

    def path(self, name: str, what: str) -> Path:
        """The staged file for member ``name`` (following in-archive links, at most 40)."""
        clean = posixpath.normpath(name.lstrip("/")) if isinstance(name, str) else ""
        for _ in range(40):
            if clean in self.files:
                return self.files[clean]
            if clean not in self.links:
                break
            clean = self.links[clean]
        raise ImageError(f"archive names a missing blob: {name}", op="load", path=what)

    def json(self, name: str, what: str | None = None):
        """Member ``name`` parsed as JSON (at most spec.MAX_DOCUMENT_SIZE bytes)."""
        return _parse_json(self.path(name, what or name), name)

    def blob(self, desc: dict, what: str) -> tuple[Path, str]:
        """(staged file, member name) of the blob a *checked* descriptor names, after
        verifying its size and digest against the descriptor (descriptor.md)."""
        algorithm, encoded = spec.check_digest(desc["digest"], what, op="load")
        name = f"blobs/{algorithm}/{encoded}"
        p = self.path(name, what)
        got, size = file_digest(p, algorithm)
        if size != desc["size"]:
            raise ImageError(f"blob is {size} bytes, its descriptor says {desc['size']} (descriptor.md: size)",
                             op="verify", path=name)
        if got != desc["digest"]:
            raise ImageError(f"digest mismatch: expected {desc['digest']}, got {got}", op="verify", path=name)
        return p, name


def _parse_json(p: Path, where: str):
    if p.stat().st_size > spec.MAX_DOCUMENT_SIZE:
        raise ImageError(f"too large for a JSON document (over {spec.MAX_DOCUMENT_SIZE} bytes)", op="load",
                         path=where)
    try:
        return json.loads(p.read_bytes())
    except ValueError as err:
        raise ImageError(f"malformed JSON in {where}: {err}", op="load") from err


# -- load ----------------------------------------------------------------------------
def load(store: ImageStore, archive: Path, *, progress=None) -> list[Image]:
    """Load every image of a docker-save or OCI-layout archive; returns them.

    All or nothing: every document is checked (:mod:`.spec`) and every layer unpacked
    into staging before the first layer or image enters the store."""
    archive = Path(archive)
    if not archive.is_file():
        raise UsageError("no such archive file", op="load", path=archive)
    with store.lock():
        stage = store.staging("load")
        stage.mkdir()
        staged: dict[str, tuple[Path, Path]] = {}
        try:
            members = Members(stage)
            members.read_archive(archive, progress)
            plans = _docker_plans(members) if "manifest.json" in members.files else _oci_plans(members)
            if not plans:
                raise ImageError("archive holds no image", op="load", path=archive)
            for plan in plans:
                for (path, member), diff_id in zip(plan["layers"], plan["diff_ids"]):
                    if diff_id not in staged and not store.has_layer(diff_id):
                        staged[diff_id] = _stage_layer(store, path, expect=diff_id, member=member)[:2]
            for diff_id, (tar_copy, tree) in staged.items():
                store.add_layer_file(tar_copy, diff_id, unpacked=tree)
            images = [store.add_image(plan["raw"], [reference.normalize(t) for t in plan["tags"]],
                                      size=sum(store.blob_path(d).stat().st_size for d in plan["diff_ids"]))
                      for plan in plans]
        finally:
            for tar_copy, tree in staged.values():
                remove_tree(tar_copy)
                remove_tree(tree)
            remove_tree(stage)
    for im in images:
        store.event("load", im.id, (im.repo_tags or [None])[0])
    return images


def _docker_plans(m: Members) -> list[dict]:
    plans = []
    for item in spec.check_docker_manifest(m.json("manifest.json"), "manifest.json", op="load"):
        config = item["Config"]
        hexname = _HEX.search(config)
        plans.append(_plan(m.path(config, "manifest.json"), config,
                           f"sha256:{hexname.group(0)}" if hexname else None,
                           [(m.path(name, "manifest.json"), name) for name in item["Layers"]],
                           list(item.get("RepoTags") or [])))
    return plans


def _plan(config: Path, where: str, digest: str | None, layers: list, tags: list) -> dict:
    """A checked image to import: its config bytes and diff_ids, its layer files, its tags."""
    import hashlib
    raw = config.read_bytes()
    if digest and digest != "sha256:" + hashlib.sha256(raw).hexdigest():
        raise ImageError(f"digest mismatch: expected {digest}, got sha256:{hashlib.sha256(raw).hexdigest()}",
                         op="verify", path=where)
    diff_ids = spec.check_config(_parse_json(config, where), where, layers=len(layers), op="load")
    return {"raw": raw, "diff_ids": diff_ids, "layers": layers, "tags": tags}


def _oci_plans(m: Members) -> list[dict]:
    if "oci-layout" not in m.files or "index.json" not in m.files:
        raise ImageError("not an image archive (no manifest.json, no oci-layout + index.json)", op="load")
    spec.check_layout(m.json("oci-layout"), "oci-layout", op="load")
    plans = []
    for desc in _manifests(m, m.json("index.json"), "index.json", None, 0):
        path, where = m.blob(desc, "index.json")
        manifest = spec.check_manifest(_parse_json(path, where), where, media_type=desc["mediaType"], op="load")
        layers = [m.blob(layer, where) for layer in manifest["layers"]]
        ann = desc.get("annotations") or {}
        name = ann.get("io.containerd.image.name") or ann.get("org.opencontainers.image.ref.name") or ""
        name = re.sub(r"^docker\.io/(library/)?", "", name)
        tags = [name] if name and _maybe_ref(name) and ":" in name else []
        config, config_where = m.blob(manifest["config"], where)
        plans.append(_plan(config, config_where, None, layers, tags))
    return plans


def _manifests(m: Members, index, where: str, media_type: str | None, depth: int) -> list[dict]:
    """Manifest descriptors of a checked index; a nested (multi-platform) index
    contributes this machine's entry, or its first one, carrying the outer annotations."""
    from .busybox import arch
    if depth > 3:
        raise ImageError("image indexes nested more than 3 deep", op="load", path=where)
    index = spec.check_index(index, where, media_type=media_type, op="load")
    out = []
    for desc in index["manifests"]:
        if desc["mediaType"] not in spec.INDEX_TYPES:
            out.append(desc)
            continue
        path, nested_where = m.blob(desc, where)
        nested = _manifests(m, _parse_json(path, nested_where), nested_where, desc["mediaType"], depth + 1)
        mine = [d for d in nested if (d.get("platform") or {}).get("architecture") == arch()]
        out += [{**p, "annotations": desc.get("annotations") or p.get("annotations")} for p in (mine or nested)[:1]]
    return out


def _stage_layer(store: ImageStore, path: Path, *, expect: str | None = None, progress=None, member=None):
    """Unpack a (maybe gzipped) layer tar into staging: (uncompressed tar copy, tree, digest).
    The layer's entries are checked as they are unpacked (:mod:`.extract`); a refusal
    names the archive ``member`` the layer came from, when given."""
    from .extract import unpack_file
    tar_copy, tree = store.staging("tar"), store.staging("layer")
    try:
        with open(tar_copy, "wb") as tee:
            digest, _ = unpack_file(path, tree, store.syscalls, expect_digest=expect, tee=tee, progress=progress)
    except BaseException as err:
        remove_tree(tar_copy)
        remove_tree(tree)
        if member and isinstance(err, ImageError):      # name the member, not our staged copy of it
            inner = err.path if err.path and err.path != os.fspath(path) else None
            raise ImageError(err.message, op=err.op, path=f"{member}: {inner}" if inner else member) from err
        raise
    return tar_copy, tree, digest


def add_layer_tar(store: ImageStore, path: Path, *, expect: str | None = None, progress=None) -> str:
    """Unpack a (maybe gzipped) layer tar into the store, keeping its uncompressed bytes as the blob."""
    with store.lock():
        tar_copy, tree, diff_id = _stage_layer(store, path, expect=expect, progress=progress)
        try:
            store.add_layer_file(tar_copy, diff_id, unpacked=tree)
        finally:
            remove_tree(tar_copy)
            remove_tree(tree)
    return diff_id


# -- import / export -----------------------------------------------------------------
def import_rootfs(store: ImageStore, tar_path: Path, tags=(), *, progress=None) -> Image:
    """``import``: a root filesystem tar becomes a one-layer image."""
    from .busybox import PATH_ENV, arch
    from .commit import now_rfc3339
    tar_path = Path(tar_path)
    if not tar_path.is_file():
        raise UsageError("no such file", op="import", path=tar_path)
    diff_id = add_layer_tar(store, tar_path, progress=progress)
    created = now_rfc3339()
    cfg = {"architecture": arch(), "os": "linux", "created": created, "config": {"Env": [PATH_ENV]},
           "rootfs": {"type": "layers", "diff_ids": [diff_id]},
           "history": [{"created": created, "created_by": "minicontainer import",
                        "comment": f"imported from {tar_path.name}"}]}
    image = store.add_image(cfg, tags)
    store.event("import", image.id, (image.repo_tags or [None])[0])
    return image


def export(store: ImageStore, image: Image, upper: Path | None, out: Path) -> None:
    """``export``: the container's whole filesystem (layers + upper, whiteouts applied) as one tar."""
    from .extract import Unpacker, open_layer
    from .tarwriter import write_layer
    out = Path(out)
    with store.lock():
        tree, tmp_tar = store.staging("export"), store.staging("tar")
        part = out.with_name(f".{out.name}.partial-{os.getpid()}")
        try:
            sources = [store.blob_path(d) for d in image.diff_ids]
            if upper is not None:
                with open(tmp_tar, "wb") as f:
                    write_layer(upper, f, translate_overlay=True)
                sources.append(tmp_tar)
            for src in sources:
                stream = open_layer(src)
                try:
                    Unpacker(tree, store.syscalls, whiteouts="apply", allow_devices=os.geteuid() == 0).run(
                        T.TarReader(stream))
                finally:
                    stream.close()
            with open(part, "wb") as f:
                write_layer(tree, HashingWriter(f), translate_overlay=False)
            os.replace(part, out)
        except OSError as err:
            raise ImageError(f"cannot export: {err.strerror.lower()}", op="export", path=out) from err
        finally:
            remove_tree(tree)
            remove_tree(tmp_tar)
            if part.exists():
                part.unlink()

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
archive only), every blob's digest is checked against the manifest, and every layer's
uncompressed digest against the config's ``diff_ids`` while it is unpacked.

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
from . import tarreader as T
from .digest import HashingWriter, check_digest, sha256_bytes, sha256_file
from .store import Image, ImageStore, remove_tree

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
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

    def json(self, name: str, what: str):
        p = self.path(name, what)
        if p.stat().st_size > T.MAX_META * 8:
            raise ImageError(f"{name} is too large for a JSON document", op="load")
        try:
            return json.loads(p.read_bytes())
        except ValueError as err:
            raise ImageError(f"malformed JSON in {name}: {err}", op="load") from err

    def verified(self, digest: str, what: str) -> Path:
        hexpart = check_digest(digest, op="load")
        p = self.path(f"blobs/sha256/{hexpart}", what)
        got, _ = sha256_file(p)
        if got != digest:
            raise ImageError(f"digest mismatch: expected {digest}, got {got}", op="verify", path=what)
        return p


# -- load ----------------------------------------------------------------------------
def load(store: ImageStore, archive: Path, *, progress=None) -> list[Image]:
    """Load every image of a docker-save or OCI-layout archive; returns them."""
    archive = Path(archive)
    if not archive.is_file():
        raise UsageError("no such archive file", op="load", path=archive)
    with store.lock():
        stage = store.staging("load")
        stage.mkdir()
        try:
            members = Members(stage)
            members.read_archive(archive, progress)
            plans = _docker_plans(members) if "manifest.json" in members.files else _oci_plans(members)
            if not plans:
                raise ImageError("archive holds no image", op="load", path=archive)
            images = [_import_plan(store, members, plan) for plan in plans]
        finally:
            remove_tree(stage)
    for im in images:
        store.event("load", im.id, (im.repo_tags or [None])[0])
    return images


def _docker_plans(m: Members) -> list[dict]:
    doc = m.json("manifest.json", "manifest.json")
    if not isinstance(doc, list):
        raise ImageError("malformed manifest.json (want a list)", op="load")
    plans = []
    for item in doc:
        try:
            config, layers, tags = item["Config"], list(item["Layers"]), list(item.get("RepoTags") or [])
        except (TypeError, KeyError) as err:
            raise ImageError(f"malformed manifest.json entry: missing {err}", op="load") from err
        hexname = _HEX.search(config or "")
        plans.append({"config": m.path(config, "manifest.json"),
                      "config_digest": f"sha256:{hexname.group(0)}" if hexname else None,
                      "layers": [(m.path(name, "manifest.json"), None) for name in layers],
                      "tags": tags})
    return plans


def _oci_plans(m: Members) -> list[dict]:
    if "oci-layout" not in m.files or "index.json" not in m.files:
        raise ImageError("not an image archive (no manifest.json, no oci-layout + index.json)", op="load")
    plans = []
    for desc in _descriptors(m, m.json("index.json", "index.json"), "index.json"):
        manifest = json.loads(m.verified(desc["digest"], "manifest").read_bytes())
        try:
            config = manifest["config"]["digest"]
            layers = [(m.verified(layer["digest"], "layer"), layer["digest"]) for layer in manifest["layers"]]
        except (TypeError, KeyError) as err:
            raise ImageError(f"malformed manifest: missing {err}", op="load") from err
        ann = desc.get("annotations") or {}
        name = ann.get("io.containerd.image.name") or ann.get("org.opencontainers.image.ref.name") or ""
        name = re.sub(r"^docker\.io/(library/)?", "", name)
        tags = [name] if name and _maybe_ref(name) and ":" in name else []
        plans.append({"config": m.verified(config, "config"), "config_digest": config, "layers": layers,
                      "tags": tags})
    return plans


def _descriptors(m: Members, index, what: str) -> list[dict]:
    """Manifests of an index; a nested (multi-platform) index contributes this machine's entry."""
    from .busybox import arch
    try:
        manifests = list(index["manifests"])
    except (TypeError, KeyError) as err:
        raise ImageError(f"malformed {what}: missing {err}", op="load") from err
    out = []
    for desc in manifests:
        if desc.get("mediaType") in (OCI_INDEX, DOCKER_LIST):
            nested = json.loads(m.verified(desc["digest"], "index").read_bytes())
            mine = [d for d in nested.get("manifests", []) if (d.get("platform") or {}).get("architecture") == arch()]
            pick = (mine or nested.get("manifests", []))[:1]
            out += [{**p, "annotations": desc.get("annotations") or p.get("annotations")} for p in pick]
        else:
            out.append(desc)
    return out


def _import_plan(store: ImageStore, m: Members, plan: dict) -> Image:
    raw = plan["config"].read_bytes()
    import hashlib
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if plan["config_digest"] and plan["config_digest"] != actual:
        raise ImageError(f"digest mismatch: expected {plan['config_digest']}, got {actual}", op="verify",
                         path="config")
    try:
        diff_ids = list(json.loads(raw)["rootfs"]["diff_ids"])
    except (ValueError, KeyError, TypeError) as err:
        raise ImageError(f"malformed image config: {err}", op="load") from err
    if len(diff_ids) != len(plan["layers"]):
        raise ImageError(f"config lists {len(diff_ids)} layers, manifest {len(plan['layers'])}", op="load")
    size = 0
    for (path, _), diff_id in zip(plan["layers"], diff_ids):
        check_digest(diff_id, op="load")
        if not store.has_layer(diff_id):
            add_layer_tar(store, path, expect=diff_id)
        size += store.blob_path(diff_id).stat().st_size
    return store.add_image(raw, [reference.normalize(t) for t in plan["tags"]], size=size)


def add_layer_tar(store: ImageStore, path: Path, *, expect: str | None = None, progress=None) -> str:
    """Unpack a (maybe gzipped) layer tar into the store, keeping its uncompressed bytes as the blob."""
    from .extract import unpack_file
    with store.lock():
        tar_copy, tree = store.staging("tar"), store.staging("layer")
        try:
            with open(tar_copy, "wb") as tee:
                diff_id, _ = unpack_file(path, tree, store.syscalls, expect_digest=expect, tee=tee,
                                         progress=progress)
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

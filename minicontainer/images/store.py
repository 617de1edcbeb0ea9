"""The image store: content-addressed blobs, unpacked layers shared by all, and tags.

On disk, under ``<state root>/images/``::

    blobs/sha256/<hex>      every blob by the sha256 of its bytes: image configs and
                            layer tars (stored uncompressed, so their digest IS the diff_id)
    layers/<hex>/           each layer unpacked once, named by its diff_id, shared by every
                            image and container that uses it (overlay lowerdirs, read-only)
    repositories.json       the index: tags -> image IDs, and the known images
    layer-sources.json      a hint for push: which registry blobs (compressed) hold each layer
    lock                    flock(2)ed by every writer
    tmp/                    staging; anything here is unfinished work

An image ID is the digest of its config JSON and the config lists its layers' diff_ids,
so an ID pins every byte. Writers take the lock, build in ``tmp/`` and ``rename(2)``
into place, and update ``repositories.json`` last by write-then-rename, so a reader
(``resolve``, on the container start path, which takes no lock) sees either the old
state or the new one, never half an image. See the OCI image spec, ``config.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import events
from ..files import remove_tree  # noqa: F401 - also used by the other image modules
from ..locks import open_lock, release_lock
from ..errors import ConflictError, ImageError, NotFoundError, UsageError
from . import reference
from .digest import HashingWriter, check_digest, sha256_bytes

INDEX = "repositories.json"
SOURCES = "layer-sources.json"   # diff_id -> the registry blobs known to hold it (for push)


@dataclass
class Image:
    """One image as the runtime sees it (built from the index and its config blob)."""

    id: str                    # sha256:<hex> of the config JSON
    ref: str                   # the name it was asked for ("busybox:latest"), or the short id
    config: dict               # the OCI config's "config" object (Env, Cmd, Entrypoint, WorkingDir, User...)
    layer_dirs: list[Path]     # unpacked layers, lowest first
    diff_ids: list[str]        # layer digests (uncompressed tar), lowest first
    created: str               # RFC 3339
    size: int                  # bytes of all layer tars
    history: list[dict]
    repo_tags: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)   # the whole config JSON

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]


class ImageStore:
    """The store under ``<state_root>/images``. ``syscalls`` is needed only to unpack
    layers that contain whiteouts or device nodes (mknod, setxattr)."""

    def __init__(self, state_root, syscalls=None) -> None:
        self.root = Path(state_root) / "images"
        self.blobs = self.root / "blobs" / "sha256"
        self.layers = self.root / "layers"
        self.tmp = self.root / "tmp"
        self._syscalls = syscalls
        self._lock_fd: int | None = None
        self._lock_depth = 0

    # -- reading (the container start path: one small JSON, one config blob) --
    def _index(self) -> dict:
        try:
            with open(self.root / INDEX, "rb") as f:
                data = json.loads(f.read())
        except FileNotFoundError:
            return {"tags": {}, "images": {}}
        except (OSError, ValueError) as err:
            raise ImageError(f"unreadable image index: {err}", op="read index", path=self.root / INDEX) from err
        return {"tags": dict(data.get("tags", {})), "images": dict(data.get("images", {}))}

    def blob_path(self, digest: str) -> Path:
        return self.blobs / check_digest(digest)

    def layer_dir(self, diff_id: str) -> Path:
        return self.layers / check_digest(diff_id)

    def config_bytes(self, image_id: str) -> bytes:
        try:
            return self.blob_path(image_id).read_bytes()
        except OSError as err:
            raise ImageError(f"missing config blob: {err.strerror.lower()}", op="read config",
                             path=self.blob_path(image_id)) from err

    def resolve(self, ref: str) -> Image:
        """``name[:tag]``, ``sha256:<hex>``, or a unique ID prefix -> :class:`Image`."""
        if not isinstance(ref, str) or not ref:
            raise UsageError("empty image reference", op="resolve")
        index = self._index()
        image_id, shown = self._lookup(index, ref)
        return self._load(index, image_id, shown)

    def _lookup(self, index: dict, ref: str) -> tuple[str, str]:
        tags, images = index["tags"], index["images"]
        hexpart = ref[7:] if ref.startswith("sha256:") else ref
        looks_like_id = 0 < len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart)
        if not ref.startswith("sha256:"):
            try:
                name = reference.normalize(ref)
            except UsageError:
                name = None
                if not looks_like_id:
                    raise
            if name in tags:
                return tags[name], name
        if looks_like_id:
            matches = [i for i in images if i[7:].startswith(hexpart)]
            if len(matches) == 1:
                return matches[0], ref
            if len(matches) > 1:
                raise UsageError(f"image id prefix {ref!r} is ambiguous ({len(matches)} images)", op="resolve")
        shown = ref if ref.startswith("sha256:") else reference.normalize(ref)
        raise NotFoundError(f"no such image: {shown}", op="resolve")

    def _load(self, index: dict, image_id: str, shown: str) -> Image:
        raw = self.config_bytes(image_id)
        try:
            cfg = json.loads(raw)
            diff_ids = list(cfg["rootfs"]["diff_ids"])
        except (ValueError, KeyError, TypeError) as err:
            raise ImageError(f"malformed image config: {err}", op="read config", path=self.blob_path(image_id)) from err
        meta = index["images"].get(image_id, {})
        return Image(id=image_id, ref=shown, config=dict(cfg.get("config") or {}),
                     layer_dirs=[self.layer_dir(d) for d in diff_ids], diff_ids=diff_ids,
                     created=cfg.get("created", ""), size=int(meta.get("size", 0)),
                     history=list(cfg.get("history") or []),
                     repo_tags=sorted(t for t, i in index["tags"].items() if i == image_id), raw=cfg)

    def list(self) -> list[Image]:
        """Every image, newest first (untagged ones too, shown as <none>)."""
        index = self._index()
        out = [self._load(index, i, i[7:19]) for i in index["images"]]
        return sorted(out, key=lambda im: im.created, reverse=True)

    # -- writing: under the lock, staged in tmp/, renamed into place ---------
    @contextlib.contextmanager
    def lock(self):
        """Exclusive flock(2) on ``images/lock`` (re-entrant within this object)."""
        if self._lock_depth == 0:
            try:
                for d in (self.root, self.blobs, self.layers, self.tmp):
                    d.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as err:
                raise ImageError(f"cannot open the store: {err.strerror.lower()}", op="lock", path=self.root) from err
            self._lock_fd = open_lock(self.root / "lock", ImageError)
            self._clean_tmp()      # whatever is in tmp/ now was left by a writer that died
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                release_lock(self._lock_fd)     # closing releases the flock
                self._lock_fd = None

    def _clean_tmp(self) -> None:
        for entry in os.scandir(self.tmp):
            remove_tree(entry.path)

    def staging(self, what: str) -> Path:
        """A fresh path in tmp/ (call under the lock)."""
        return self.tmp / f"{what}-{os.urandom(6).hex()}"

    def _write_index(self, index: dict) -> None:
        from ..records import write_json
        write_json(self.root / INDEX, index, "cannot write the image index", ImageError, op="tag")

    def put_blob(self, data: bytes) -> str:
        """Store bytes as a blob; returns its digest (idempotent)."""
        digest = sha256_bytes(data)
        with self.lock():
            final = self.blob_path(digest)
            if not final.exists():
                from ..records import write_atomic
                write_atomic(final, data, "cannot store a blob", ImageError, op="put blob")
        return digest

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_dir(diff_id).is_dir() and self.blob_path(diff_id).is_file()

    def add_layer_file(self, tar_path: Path, diff_id: str, unpacked: Path | None = None) -> None:
        """Move an uncompressed layer tar (already digested as ``diff_id``) into blobs/ and
        its unpacked tree (unpacking it now when ``unpacked`` is None) into layers/."""
        with self.lock():
            if self.has_layer(diff_id):
                return
            if unpacked is None:
                from .extract import unpack_file
                unpacked = self.staging("layer")
                unpack_file(tar_path, unpacked, self.syscalls, expect_digest=diff_id)
            os.chmod(unpacked, 0o755)
            final_dir = self.layer_dir(diff_id)
            if final_dir.exists():
                remove_tree(final_dir)
            os.rename(unpacked, final_dir)
            os.replace(tar_path, self.blob_path(diff_id))

    def add_image(self, cfg: dict | bytes, tags=(), *, size: int | None = None) -> Image:
        """Record an image whose layers are all present; ``cfg`` bytes are kept verbatim."""
        raw = cfg if isinstance(cfg, bytes) else json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
        try:
            diff_ids = json.loads(raw)["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError) as err:
            raise ImageError(f"malformed image config: {err}", op="add image") from err
        names = [reference.normalize(t) for t in tags]
        with self.lock():
            for d in diff_ids:
                if not self.has_layer(d):
                    raise ImageError(f"layer {d} is not in the store", op="add image")
            image_id = self.put_blob(raw)
            index = self._index()
            total = size if size is not None else sum(self.blob_path(d).stat().st_size for d in diff_ids)
            index["images"].setdefault(image_id, {"added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                  "size": total})
            for name in names:
                index["tags"][name] = image_id
            self._write_index(index)
            for name in names:
                self.event("tag", image_id, name)
            return self._load(index, image_id, names[0] if names else image_id[7:19])

    def event(self, action: str, image_id: str, name: str | None = None) -> None:
        """Record an image event (``docker events --filter type=image``) in the state root's log."""
        events.record(self.root.parent, "image", action, image_id, {"name": name or image_id})

    @property
    def syscalls(self):
        if self._syscalls is None:
            from ..kernel import default
            self._syscalls = default()
        return self._syscalls

    # -- where layers came from (push skips or mounts what a registry already has) --
    def blob_sources(self, diff_id: str) -> list[dict]:
        """The compressed blobs known to hold layer ``diff_id``: ``{"digest", "size", "mediaType",
        "registry", "repository"}`` each (Docker keeps the same in its v2 metadata)."""
        from ..records import read_json
        data = read_json(self.root / SOURCES, "unreadable layer sources", ImageError) or {}
        return list(data.get(diff_id, []))

    def add_blob_source(self, diff_id: str, digest: str, size: int, media_type: str, registry: str,
                        repository: str) -> None:
        """Remember that ``registry/repository`` has layer ``diff_id`` as blob ``digest``."""
        from ..records import read_json, write_json
        entry = {"digest": digest, "size": size, "mediaType": media_type, "registry": registry,
                 "repository": repository}
        with self.lock():
            data = read_json(self.root / SOURCES, "unreadable layer sources", ImageError) or {}
            known = [e for e in data.get(diff_id, []) if e != entry]
            data[diff_id] = [entry] + known[:15]
            write_json(self.root / SOURCES, data, "cannot write layer sources", ImageError)

    # -- the base image --------------------------------------------------------
    def ensure_busybox(self, busybox=None) -> Image:
        """``busybox:latest``, created from the host's static busybox the first time."""
        with contextlib.suppress(NotFoundError):
            return self.resolve("busybox:latest")
        from . import busybox as bb
        from ..paths import HOST_BUSYBOX_CANDIDATES
        binary = bb.find_busybox([busybox] if busybox else HOST_BUSYBOX_CANDIDATES)
        with self.lock():
            with contextlib.suppress(NotFoundError):      # someone else made it while we waited
                return self.resolve("busybox:latest")
            tree, tar = self.staging("layer"), self.staging("tar")
            tree.mkdir()
            bb.build_tree(tree, binary)
            created = int(binary.stat().st_mtime)
            from .tarwriter import write_layer
            with open(tar, "wb") as f:
                out = HashingWriter(f)
                write_layer(tree, out, translate_overlay=False, mtime=created, owner=(0, 0))
                f.flush()
                os.fsync(f.fileno())
            self.add_layer_file(tar, out.digest, unpacked=tree)
            cfg = bb.config_for(out.digest, binary, bb.rfc3339(created))
            return self.add_image(cfg, ["busybox:latest"], size=out.size)

    # -- tags and removal -------------------------------------------------------
    def tag(self, source: str, target: str) -> Image:
        image = self.resolve(source)
        name = reference.normalize(target)
        with self.lock():
            index = self._index()
            index["tags"][name] = image.id
            self._write_index(index)
        self.event("tag", image.id, name)
        return self.resolve(name)

    def remove(self, ref: str, *, in_use: dict[str, list[str]] | None = None, force: bool = False) -> list[str]:
        """``rmi``: untag ``ref``; delete the image once no tag is left. ``in_use`` maps
        image IDs to the containers using them: such an image is refused unless ``force``
        (and even then only untagged, its layers kept). Returns Docker-style lines."""
        in_use = in_use or {}
        with self.lock():
            index = self._index()
            image_id, shown = self._lookup(index, ref)
            users = in_use.get(image_id, [])
            if users and not force:
                raise ConflictError(f"image is being used by container {users[0]} (use -f to force)",
                                    op="rmi", path=shown)
            tags = [t for t, i in index["tags"].items() if i == image_id]
            by_name = shown in tags
            if len(tags) > 1 and by_name:
                del index["tags"][shown]
                self._write_index(index)
                self.event("untag", image_id, shown)
                return [f"Untagged: {shown}"]
            if len(tags) > 1 and not force:
                raise ConflictError(f"image is referenced in multiple repositories ({', '.join(sorted(tags))})",
                                    op="rmi", path=shown)
            lines = [f"Untagged: {t}" for t in sorted(tags)]
            for t in tags:
                del index["tags"][t]
            if users:           # forced while in use: untag, keep the image for the running containers
                self._write_index(index)
                for t in sorted(tags):
                    self.event("untag", image_id, t)
                return lines
            del index["images"][image_id]
            self._write_index(index)
            for t in sorted(tags):
                self.event("untag", image_id, t)
            self.event("delete", image_id)
            lines.append(f"Deleted: {image_id}")
            lines += self._collect(index, in_use)
            return lines

    def prune(self, *, in_use: dict[str, list[str]] | None = None) -> list[str]:
        """``image prune``: delete untagged images no container uses, then unused layers."""
        in_use = in_use or {}
        with self.lock():
            index = self._index()
            tagged = set(index["tags"].values())
            dead = [i for i in index["images"] if i not in tagged and i not in in_use]
            for i in dead:
                del index["images"][i]
            self._write_index(index)
            for i in dead:
                self.event("delete", i)
            return [f"Deleted: {i}" for i in dead] + self._collect(index, in_use)

    def _collect(self, index: dict, in_use: dict) -> list[str]:
        """Remove blobs and layer dirs no remaining (or in-use) image refers to."""
        keep = set(index["images"]) | set(in_use)
        live: set[str] = set(keep)
        for image_id in keep:
            try:
                live.update(json.loads(self.config_bytes(image_id))["rootfs"]["diff_ids"])
            except (ImageError, OSError, ValueError, KeyError, TypeError) as err:  # a broken image keeps nothing
                from .. import log
                log.swallowed("images", f"read the layers of kept image {image_id}", err)
        lines = []
        for entry in os.scandir(self.layers):
            if f"sha256:{entry.name}" not in live:
                remove_tree(entry.path)
                lines.append(f"Deleted: sha256:{entry.name}")
        for entry in os.scandir(self.blobs):
            if f"sha256:{entry.name}" not in live:
                os.unlink(entry.path)
        return lines

"""Volumes: directories that live outside the container's overlay and survive it.

A container's writable layer (the overlay's upper directory) is deleted with the
container. Data that must outlive it, or be shared with the host, is *mounted over* a
directory of the container's root instead. Three kinds, as in Docker:

* a **bind mount** ``-v /host/dir:/ctr/dir[:ro]`` makes an existing host directory (or
  file) visible at a second place: ``mount(src, dst, NULL, MS_BIND|MS_REC, NULL)``.
  A bind mount is not a copy; both paths name the same inodes. Read-only needs a second
  call, ``MS_REMOUNT|MS_BIND|MS_RDONLY``, because the kernel ignores MS_RDONLY on the
  first bind (mount(2), "Creating a bind mount");
* a **named volume** ``-v NAME:/ctr/dir`` is a bind mount of a directory the runtime
  owns, ``<root>/volumes/NAME/_data``, created on first use; ``-v /ctr/dir`` alone makes
  an **anonymous** one (a random 64-hex name), removed by ``rm -v``;
* a **tmpfs** ``--tmpfs /ctr/dir[:size=64m,mode=1777]`` is a fresh memory-backed
  filesystem (tmpfs(5)) that vanishes with the container's mount namespace.

All the mounts are made by the container's first process, inside its own mount
namespace, after the overlay and before pivot_root (see :mod:`minicontainer.rootfs`):
the host's mount table never shows them. This module parses the flags, keeps the
volume store, and turns a container's volume list into mount instructions.

Records: ``<root>/volumes/<name>/volume.json`` beside ``_data``; ``<root>/volumes/.lock``
is flock(2)ed while volumes appear or disappear.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..files import discard_tree
from .. import events
from ..locks import locked
from ..files import remove_tree
from ..records import read_json
from ..errors import ConflictError, MiniContainerError, NotFoundError, UsageError

VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
#: tmpfs flags Docker accepts as words, and the mount(2) flag each sets (0: clears the default)
TMPFS_FLAGS = {"ro": "ro", "rw": "rw", "noexec": "noexec", "exec": "exec", "nosuid": "nosuid", "suid": "suid",
               "nodev": "nodev", "dev": "dev"}
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")
TMPFS_DEFAULT = ("noexec", "nosuid", "nodev")   # Docker's defaults for --tmpfs


# --------------------------------------------------------------------------- parsing
def _target(path: str, spec: str) -> str:
    if not path.startswith("/"):
        raise UsageError(f"invalid volume specification {spec!r}: the container path must be absolute", op="run")
    norm = os.path.normpath(path)
    if norm == "/":
        raise UsageError(f"invalid volume specification {spec!r}: cannot mount over /", op="run")
    if ".." in path.split("/"):
        raise UsageError(f"invalid volume specification {spec!r}: the container path must not contain ..",
                         op="run")
    return norm


def parse_volume(spec: str) -> dict:
    """One ``-v`` value as a volume record (not yet materialised).

    ``/ctr`` (anonymous), ``NAME:/ctr[:ro|rw]`` (named), ``/host:/ctr[:ro|rw]`` (bind).
    A bind's host path must be absolute and exist: checked here, before anything is made.
    """
    parts = spec.split(":")
    if not spec or len(parts) > 3 or any(p == "" for p in parts):
        raise UsageError(f"invalid volume specification {spec!r}", op="run")
    mode = "rw"
    if len(parts) == 3 or (len(parts) == 2 and parts[1] in ("ro", "rw")):
        mode = parts.pop()
        if mode not in ("ro", "rw"):
            raise UsageError(f"invalid mode {mode!r} in volume specification {spec!r}: use ro or rw", op="run")
    if len(parts) == 1:
        return {"type": "volume", "name": "", "source": "", "target": _target(parts[0], spec),
                "readonly": mode == "ro", "options": "", "anonymous": True}
    source, target = parts
    target = _target(target, spec)
    if source.startswith("/"):
        if not os.path.exists(source):
            raise UsageError(f"invalid volume specification {spec!r}: bind source path does not exist",
                             op="run", path=source)
        return {"type": "bind", "name": "", "source": os.path.normpath(source), "target": target,
                "readonly": mode == "ro", "options": "", "anonymous": False}
    if not VOLUME_NAME.match(source):
        raise UsageError(f"invalid volume specification {spec!r}: {source!r} is neither an absolute host path "
                         "nor a valid volume name", op="run")
    return {"type": "volume", "name": source, "source": "", "target": target, "readonly": mode == "ro",
            "options": "", "anonymous": False}


def parse_tmpfs(spec: str) -> dict:
    """One ``--tmpfs /ctr[:opt,opt=value,...]`` value as a volume record."""
    path, _, options = spec.partition(":")
    target = _target(path, spec)
    for opt in filter(None, options.split(",")):
        key, sep, value = opt.partition("=")
        if (not sep and key not in TMPFS_FLAGS) or (sep and (key not in TMPFS_DATA or not value)):
            raise UsageError(f"invalid tmpfs option {opt!r} in {spec!r}", op="run")
    return {"type": "tmpfs", "name": "", "source": "tmpfs", "target": target, "readonly": "ro" in options.split(","),
            "options": options, "anonymous": False}


def parse_all(volumes: list[str], tmpfs: list[str]) -> list[dict]:
    """Every ``-v`` and ``--tmpfs``; two mounts on the same container path are an error."""
    records = [parse_volume(v) for v in volumes] + [parse_tmpfs(t) for t in tmpfs]
    seen = set()
    for rec in records:
        if rec["target"] in seen:
            raise UsageError(f"duplicate mount point: {rec['target']}", op="run")
        seen.add(rec["target"])
    return records


def tmpfs_mount_args(options: str) -> tuple[int, str]:
    """(mount flags, data) for a tmpfs with Docker's defaults (noexec, nosuid, nodev)."""
    from ..kernel import constants as C
    bits = {"ro": C.MS_RDONLY, "noexec": C.MS_NOEXEC, "nosuid": C.MS_NOSUID, "nodev": C.MS_NODEV}
    undo = {"rw": "ro", "exec": "noexec", "suid": "nosuid", "dev": "nodev"}
    words = set(TMPFS_DEFAULT)
    data = []
    for opt in filter(None, options.split(",")):
        if "=" in opt:
            data.append(opt)
        elif opt in undo:
            words.discard(undo[opt])
        else:
            words.add(opt)
    flags = 0
    for word in words:
        flags |= bits[word]
    return flags, ",".join(data)


# --------------------------------------------------------------------------- the store
@dataclass
class Volume:
    """A named or anonymous volume: a directory under the state root, bind-mounted into containers."""

    name: str
    created: float
    anonymous: bool
    dir: Path

    @property
    def data(self) -> Path:
        return self.dir / "_data"

    def to_json(self, users: list[str] | None = None) -> dict:
        return {"Name": self.name, "Driver": "local", "Mountpoint": str(self.data),
                "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
                "Labels": {"anonymous": "true"} if self.anonymous else {}, "Scope": "local",
                "UsedBy": list(users or [])}


class VolumeStore:
    """The volumes of one state root."""

    def __init__(self, state_root: os.PathLike | str):
        self.root = Path(state_root)
        self.dir = self.root / "volumes"

    def lock(self):
        """Held while volumes are created, removed or attached to a new container."""
        return locked(self.dir / ".lock", mode=0o755)

    def _check_name(self, name: str) -> None:
        if not VOLUME_NAME.match(name or ""):
            raise UsageError(f"invalid volume name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                             op="volume")

    def get(self, name: str) -> Volume:
        self._check_name(name)
        path = self.dir / name / "volume.json"
        meta = read_json(path, "unreadable volume record", op="volume")
        if meta is None:
            raise NotFoundError(f"no such volume: {name}", op="volume")
        return Volume(name=name, created=meta.get("created", 0.0), anonymous=bool(meta.get("anonymous")),
                      dir=self.dir / name)

    def ls(self) -> list[Volume]:
        if not self.dir.is_dir():
            return []
        out = []
        for entry in sorted(os.listdir(self.dir)):
            if entry.startswith("."):
                continue
            try:
                out.append(self.get(entry))
            except MiniContainerError as err:     # a damaged record: listed by nobody, reported here
                from .. import log
                log.swallowed("volumes", "read volume", err, self.dir / entry)
        return out

    def select(self, wanted: dict[str, list[str]] | None = None) -> list[Volume]:
        """``volume ls --filter``: ``name=`` (a substring), ``driver=local``, ``label=KEY[=VALUE]``,
        ``dangling=true|false`` (no container of this root uses it / some does)."""
        from .. import filters
        wanted = wanted or {}
        dangling = filters.boolean(wanted, "dangling", "volume ls")
        out = []
        for vol in self.ls():
            if wanted.get("name") and not any(v in vol.name for v in wanted["name"]):
                continue
            if wanted.get("driver") and "local" not in wanted["driver"]:
                continue
            if not filters.labels_match(vol.to_json()["Labels"], wanted.get("label", [])):
                continue
            if dangling is not None and (not self.users(vol.name)) != dangling:
                continue
            out.append(vol)
        return out

    def create(self, name: str | None = None, *, anonymous: bool = False) -> tuple[Volume, bool]:
        """The volume ``name`` (made now if missing) and whether it was made. Call under :meth:`lock`."""
        name = name or os.urandom(32).hex()
        self._check_name(name)
        try:
            return self.get(name), False
        except NotFoundError:
            pass
        final, tmp = self.dir / name, self.dir / f".new-{name}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp.mkdir(mode=0o755)
            (tmp / "_data").mkdir(mode=0o755)
            (tmp / "volume.json").write_text(json.dumps({"created": time.time(), "anonymous": anonymous}))
            os.rename(tmp, final)
        except OSError as err:
            discard_tree(tmp, "volumes")
            raise MiniContainerError(f"cannot create volume: {err.strerror.lower()}", op="volume create",
                                     path=final) from err
        events.record(self.root, "volume", "create", name, {"driver": "local"})
        return self.get(name), True

    def users(self, name: str) -> list[str]:
        """Names of this root's containers whose records mention volume ``name`` (any state)."""
        from .containers import ContainerStore
        return [c.name for c in ContainerStore(self.root).list()
                if any(v.get("type") == "volume" and v.get("name") == name for v in c.config.get("volumes") or [])]

    def remove(self, name: str) -> None:
        """Delete a volume and its data; refused while any container uses it."""
        with self.lock():
            vol = self.get(name)
            users = self.users(name)
            if users:
                raise ConflictError(f"remove {name}: volume is in use by container(s) {', '.join(users)}",
                                    op="volume rm")
            self._delete(vol)

    def _delete(self, vol: Volume) -> None:
        grave = self.dir / f".rm-{vol.name}"
        try:
            os.rename(vol.dir, grave)
        except FileNotFoundError:
            return
        except OSError as err:
            raise MiniContainerError(f"cannot remove volume: {err.strerror.lower()}", op="volume rm",
                                     path=vol.dir) from err
        remove_tree(grave)
        events.record(self.root, "volume", "destroy", vol.name, {"driver": "local"})

    def prune(self, all_unused: bool = False) -> list[str]:
        """Remove unused volumes: anonymous ones, or every unused one with ``all_unused``."""
        removed = []
        with self.lock():
            for entry in sorted(os.listdir(self.dir)):  # crash leftovers of create/rm
                if entry.startswith((".new-", ".rm-")):
                    discard_tree(self.dir / entry, "volumes", "remove a crash leftover")
                    removed.append(entry)
            for vol in self.ls():
                if (vol.anonymous or all_unused) and not self.users(vol.name):
                    self._delete(vol)
                    removed.append(vol.name)
        return removed


# --------------------------------------------------------------------------- containers
def materialize(store: VolumeStore, records: list[dict]) -> tuple[list[dict], list[Volume]]:
    """Fill in the host source of each named/anonymous volume, creating missing ones.

    Returns the completed records and the volumes made now (to undo if the container
    cannot be created after all). Call under ``store.lock()``.
    """
    done, made = [], []
    try:
        for rec in records:
            rec = dict(rec)
            if rec["type"] == "volume":
                vol, new = store.create(rec["name"] or None, anonymous=rec.get("anonymous", False))
                rec["name"], rec["source"] = vol.name, str(vol.data)
                if new:
                    made.append(vol)
            done.append(rec)
    except BaseException:
        undo(store, made)
        raise
    return done, made


def undo(store: VolumeStore, made: list[Volume]) -> None:
    for vol in made:
        store._delete(vol)


def remove_anonymous(state_root, container) -> list[str]:
    """``rm -v``: delete the container's anonymous volumes (once no other container uses them)."""
    store = VolumeStore(state_root)
    removed = []
    with store.lock():
        for rec in container.config.get("volumes") or []:
            if rec.get("type") == "volume" and rec.get("anonymous") and not store.users(rec["name"]):
                try:
                    store._delete(store.get(rec["name"]))
                    removed.append(rec["name"])
                except NotFoundError:
                    continue
    return removed


def mounts_for(records: list[dict]) -> list[dict]:
    """What the container process mounts, shallowest target first (so /a is under /a/b)."""
    out = []
    for rec in records or []:
        m = {k: rec.get(k) for k in ("type", "source", "target", "readonly")}
        if rec["type"] == "tmpfs":
            m["flags"], m["data"] = tmpfs_mount_args(rec.get("options") or "")
        out.append(m)
    return sorted(out, key=lambda m: m["target"].count("/"))

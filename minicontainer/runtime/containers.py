"""Where containers are remembered: one directory per container under ``<root>/containers``.

::

    <root>/containers/<64-hex id>/
        config.json  the container's one config: an OCI runtime-spec config (config.md),
                     built by create, read by every start, exec and dry run
        state.json   the record below, replaced atomically (write a temp file, rename(2))
        lock         flock(2)ed by any command changing this container
        upper/       the container's writable layer (overlay upperdir)
        work/        overlay's scratch directory (workdir; same filesystem as upper)
        merged/      mount point of the overlay; mounted only inside the container's
                     own mount namespace, so the host never sees it mounted
        hosts, hostname, resolv.conf   bound over the files of the same name in /etc

A new container directory is built under a temporary name and renamed into place, so a
half-created container is never visible; names are checked under a store-wide lock.

The record's ``config`` keeps only what Docker shows of the request and the runtime-spec
has no field for, as dockerd keeps its hostconfig.json beside the OCI spec it hands
runc: ``rm`` (--rm), ``stdin_once``, ``stop_signal``, ``labels``, the ``env`` as given with
-e, the ``security`` options as asked (cap-add/drop, seccomp profile name, user name) and
the ``volumes`` with their names. Nothing that decides how the container runs is kept
twice: its network, ports, terminal, stdin, init, hostname, working directory and limits
are read from config.json (:meth:`Container.spec`), and changed there.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import events, log
from ..locks import locked, open_lock, release_lock
from ..files import remove_tree
from ..records import read_json, write_json
from ..errors import ConflictError, MiniContainerError, NotFoundError, UsageError
from . import names
from .state import Status


@dataclass
class Container:
    """A container's record, as saved in ``<state root>/containers/<id>/state.json``."""

    id: str
    name: str
    image: str
    image_id: str
    command: list[str]
    created: float
    status: str = Status.CREATED.value
    pid: int = 0
    pid_start: int = 0              # the process's start time in clock ticks, to detect PID reuse
    monitor_pid: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    config: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    dir: Path = field(default=Path("."), compare=False, repr=False)

    @property
    def short_id(self) -> str:
        return names.short_id(self.id)

    @property
    def upper_dir(self) -> Path:
        return self.dir / "upper"

    @property
    def work_dir(self) -> Path:
        return self.dir / "work"

    @property
    def merged_dir(self) -> Path:
        return self.dir / "merged"

    @property
    def state(self) -> Status:
        return Status(self.status)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("dir")
        return data

    # -- the one config ---------------------------------------------------------
    def spec(self):
        """config.json as a checked :class:`~minicontainer.oci.Spec` (read once per loaded record)."""
        cached = self.__dict__.get("_spec")
        if cached is None:
            from ..oci.spec import Spec
            path = self.dir / "config.json"
            try:
                text = path.read_text()
            except OSError as err:
                raise MiniContainerError(f"cannot read config.json: {os.strerror(err.errno).lower()}",
                                         op="config", path=path) from err
            cached = self.__dict__["_spec"] = Spec.from_json(text)
        return cached

    def save_spec(self, spec, op: str) -> None:
        """Replace config.json (atomically, as every record) with ``spec``."""
        write_json(self.dir / "config.json", spec.to_dict(), "cannot write config.json", op=op)
        self.__dict__["_spec"] = spec

    def readable_spec(self):
        """config.json, or None for a container whose create has not written it yet (logged)."""
        try:
            return self.spec()
        except MiniContainerError as err:
            log.swallowed("container", f"read the config of {self.short_id}", err)
            return None

    def annotation(self, key: str, default: str | None = None) -> str | None:
        """One of config.json's annotations (:mod:`minicontainer.oci.annotations`); ``default`` when
        there is none, or no readable config.json yet."""
        spec = self.readable_spec()
        return spec.annotations.get(key, default) if spec is not None else default

    @property
    def network(self) -> str:
        """The network config.json says to wire at start: none, host, bridge or a network's name."""
        from ..oci.annotations import NETWORK
        return self.annotation(NETWORK, "none") or "none"

    @property
    def tty(self) -> bool:
        """Does PID 1 run on a terminal (config.json's process.terminal, ``-t``)?"""
        spec = self.readable_spec()
        return bool(spec is not None and spec.process is not None and spec.process.terminal)

    @property
    def interactive(self) -> bool:
        """Is its stdin kept open (``-i``)?"""
        from ..oci.annotations import INTERACTIVE
        return self.annotation(INTERACTIVE) == "true"


class ContainerStore:
    """The containers of one state root."""

    def __init__(self, state_root: os.PathLike | str):
        self.root = Path(state_root)
        self.dir = self.root / "containers"

    # -- locking -------------------------------------------------------------
    def _flock(self, path: Path):
        return locked(path)

    def store_lock(self):
        """Held while names are checked and containers appear or disappear."""
        self._ensure()
        return self._flock(self.dir / ".lock")

    @contextlib.contextmanager
    def lock(self, container: Container):
        """Held while one container's state is read, changed and written back.

        It never recreates the directory of a container removed meanwhile (a reaper that
        wakes up after ``rm -f`` must find the container gone, not bring it back)."""
        try:
            fd = open_lock(container.dir / "lock", make_parent=False)
        except FileNotFoundError:
            raise NotFoundError(f"no such container: {container.id}", op="lock") from None
        try:
            yield
        finally:
            release_lock(fd)

    def _ensure(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise MiniContainerError(f"state root is not writable: {err.strerror.lower()}",
                                     op="create", path=self.dir) from err

    # -- records ---------------------------------------------------------------
    def create(self, *, name: str | None, image: str, image_id: str, command: list[str], config: dict) -> Container:
        """Make a new container record (status ``created``) with its upper/work/merged dirs."""
        if name is not None and not names.valid_name(name):
            raise UsageError(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                             op="create")
        with self.store_lock():
            taken = {c.name for c in self.list()}
            if name is None:
                name = names.random_name(taken)
            elif name in taken:
                raise ConflictError(f'the container name "{name}" is already in use', op="create")
            cid = names.new_id()
            final = self.dir / cid
            tmp = self.dir / f".new-{cid}"
            c = Container(id=cid, name=name, image=image, image_id=image_id, command=list(command),
                          created=time.time(), config=config, dir=final)
            try:
                tmp.mkdir(mode=0o700)
                for sub in ("upper", "work", "merged"):
                    (tmp / sub).mkdir(mode=0o755)
                self._write(tmp / "state.json", c)
                os.rename(tmp, final)
            except MiniContainerError:
                remove_tree(tmp)
                raise
            except OSError as err:
                remove_tree(tmp)
                raise MiniContainerError(f"cannot create container directory: {err.strerror.lower()}",
                                         op="create", path=tmp) from err
            return c

    def _write(self, path: Path, c: Container) -> None:
        write_json(path, c.to_dict(), "cannot write state", durable=False, make_parent=False)

    def save(self, c: Container) -> None:
        """Replace the state file atomically (readers see the old or the new, never half)."""
        self._write(c.dir / "state.json", c)

    def load(self, cid: str) -> Container:
        path = self.dir / cid / "state.json"
        data = read_json(path, "unreadable state", op="load")
        if data is None:
            raise NotFoundError(f"no such container: {cid}", op="load")
        return Container(**data, dir=self.dir / cid)

    def known_ids(self) -> set[str]:
        """Every container id with a directory here, readable or not, half-created or
        half-removed (``.new-ID``, ``.rm-ID``): what a sweep may call ours."""
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return set()
        ids = set()
        for entry in entries:
            for prefix in (".new-", ".rm-"):
                if entry.startswith(prefix):
                    entry = entry[len(prefix):]
            if entry and not entry.startswith("."):
                ids.add(entry)
        return ids

    def list(self) -> list[Container]:
        if not self.dir.is_dir():
            return []
        out = []
        for entry in sorted(os.listdir(self.dir)):
            if entry.startswith("."):
                continue
            try:
                out.append(self.load(entry))
            except MiniContainerError as err:  # removed meanwhile, or a crash left an unreadable record: prune handles it
                log.swallowed("containers", "list", err, self.dir / entry)
        return sorted(out, key=lambda c: c.created, reverse=True)

    def get(self, ref: str) -> Container:
        """Find a container by full ID, name, or unique ID prefix (as Docker resolves them)."""
        if not ref:
            raise UsageError("empty container reference", op="get")
        everything = self.list()
        for c in everything:
            if c.id == ref or c.name == ref:
                return c
        matches = [c for c in everything if c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f"multiple IDs found with provided prefix: {ref}", op="get")
        raise NotFoundError(f"no such container: {ref}", op="get")

    def remove(self, c: Container) -> None:
        """Delete the container's directory (the caller has stopped it and freed its resources)."""
        with self.store_lock():
            graveyard = self.dir / f".rm-{c.id}"
            try:
                os.rename(c.dir, graveyard)
            except FileNotFoundError:
                return
            remove_tree(graveyard)
        events.container(self.root, c, "destroy")

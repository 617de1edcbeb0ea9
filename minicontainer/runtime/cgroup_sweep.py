"""Find and remove the cgroups that *this* state root's vanished containers left behind.

A container's cgroup is a directory such as ``/sys/fs/cgroup/memory/<caller>/minicontainer/<id>``
(see cgroups(7)). It is removed when the container exits (by the runtime, or by the
reaper of a detached container), but SIGKILL runs no cleanup: a runtime killed between
``mkdir`` and ``rmdir`` leaves the directory, sometimes with processes still in it, and
their memory, pids and CPU limits keep counting against the host.

The hard part is *whose* leftover it is. Every state root on a machine (each test, each
user with ``--root``) puts its containers under the same ``minicontainer`` parents, and a
cgroup carries no note of the root that made it. So this module only touches ids it can
prove are ours:

* ids with a record in this root that is not running (``exited``, ``created``, ``dead``);
* ids listed in ``<root>/cgroups.json``, a small registry written when a container is
  *created* (:func:`register`): an id whose record is gone (``rm`` crashed half-way, or a
  directory was deleted by hand) is still known to be ours.

Every other ``minicontainer/<id>`` is somebody else's and is left alone. An id leaves the
registry once neither its record nor any cgroup of it remains.

One more care: a container being *started* already has its cgroup while its record still
says ``created`` (or ``exited`` on a restart) -- the record turns ``running`` only once
PID 1 runs. A cgroup younger than the container's last recorded exit and than
``grace`` seconds is therefore left for the next sweep.

The registry is replaced atomically (write a temporary file, rename(2)) under an
flock(2) lock, so concurrent ``create`` commands never lose each other's ids. Kernel
calls (kill, rmdir) go through the runtime's Syscalls object, via the cgroup manager.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import log
from ..locks import locked
from ..errors import MiniContainerError
from ..records import read_json, write_json

REGISTRY = "cgroups.json"
LOCK = ".cgroups.lock"
GRACE = 30.0                      # seconds a fresh cgroup of a not-yet-running container is spared
_HEX = frozenset("0123456789abcdef")


def _is_id(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


def _locked(root: Path):
    return locked(Path(root) / LOCK, mode=0o755)


def _read(root: Path) -> dict[str, float]:
    path = Path(root) / REGISTRY
    data = read_json(path, "unreadable cgroup registry")
    ids = data.get("containers") if isinstance(data, dict) else None
    return {k: float(v) for k, v in (ids or {}).items() if _is_id(k)}


def _write(root: Path, ids: dict[str, float]) -> None:
    write_json(Path(root) / REGISTRY, {"containers": dict(sorted(ids.items()))}, "cannot write cgroup registry")


def register(root: Path, container_id: str) -> None:
    """Note that ``container_id`` belongs to this state root (called when it is created)."""
    if not _is_id(container_id):
        raise MiniContainerError(f"invalid container id {container_id!r}", op="register")
    with _locked(root):
        ids = _read(root)
        ids[container_id] = time.time()
        _write(root, ids)


def registered(root: Path) -> set[str]:
    """The ids of every container this root has created and not yet forgotten."""
    with _locked(root):
        return set(_read(root))


def forget(root: Path, container_ids) -> None:
    """Drop ids from the registry (their cgroups and records are gone)."""
    drop = set(container_ids)
    if not drop:
        return
    with _locked(root):
        ids = _read(root)
        if drop & set(ids):
            _write(root, {k: v for k, v in ids.items() if k not in drop})


def _born(dirs: dict[str, Path]) -> float:
    """When the cgroup was made: the oldest status-change time of its directories."""
    times = []
    for path in dirs.values():
        try:
            times.append(path.stat().st_ctime)
        except OSError:
            continue
    return min(times) if times else 0.0


def _maybe_starting(c, dirs: dict[str, Path], grace: float, now: float) -> bool:
    """A cgroup made after the record's last exit, seconds ago: a start may be under way."""
    from .state import Status
    if c.state not in (Status.CREATED, Status.EXITED):
        return False
    born = _born(dirs)
    return born >= (c.finished_at or c.created) and now - born < grace


def sweep_cgroups(rt, grace: float = GRACE, also: set[str] = frozenset()) -> list[str]:
    """Remove the cgroups of this root's containers that are not running; the ids removed.

    ``rt`` is a :class:`~minicontainer.runtime.runner.Runtime`. What is left in such a
    cgroup is killed first (:meth:`CgroupManager.remove`). Cgroups of running or paused
    containers, of other state roots, and of containers that may be starting right now
    are left alone. ``also`` adds ids that this root is known to have used by other evidence
    (a crashed container's state directory, an orphaned monitor naming this root).
    """
    from ..cgroups import detect
    from ..cgroups.prune import find_leftovers, leftover_manager
    from .state import Status

    try:
        layout = detect(rt.cgroup_root, rt.proc_root)
    except MiniContainerError:
        return []
    found = find_leftovers(layout)
    records = {c.id: c for c in rt.containers.list()}
    known = registered(rt.root)
    now = time.time()
    removed: list[str] = []
    for cid, dirs in sorted(found.items()):
        c = records.get(cid)
        if c is not None:
            if rt.refresh(c).state in (Status.RUNNING, Status.PAUSED) or _maybe_starting(c, dirs, grace, now):
                continue
        elif cid not in known and cid not in also:
            continue          # another state root's container: not ours to judge
        try:
            leftover_manager(layout, cid, dirs, rt.sys).remove()
        except MiniContainerError as err:   # still busy: the next sweep tries again
            log.swallowed("sweep", "remove a leftover cgroup", err, cid)
            continue
        removed.append(cid)
    # ids with neither a record nor a cgroup any more need no remembering
    gone = {cid for cid in known if cid not in records and (cid not in found or cid in removed)}
    forget(rt.root, gone)
    return removed

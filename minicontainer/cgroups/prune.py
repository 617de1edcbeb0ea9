"""Find the cgroups that crashed containers left behind, and remove them.

A container's cgroup lives as long as its directory: if the runtime is killed before it
cleans up, ``<caller>/minicontainer/<id>`` stays, possibly with processes in it. Since the
caller's cgroup can differ from run to run (on v1 it is wherever the caller sat), prune
walks each hierarchy looking for directories named ``minicontainer`` and treats each of
their sub-directories as one container's cgroup. See cgroups(7) on removing a cgroup.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..kernel.base import Syscalls
from . import manager_for_dirs
from .common import PARENT_NAME, CgroupManager
from .detect import V1_CONTROLLERS, CgroupLayout

MAX_DEPTH = 8   # how deep below a mount point we look for a "minicontainer" directory


def _hierarchies(layout: CgroupLayout) -> dict[str, Path]:
    """controller -> mount point of the hierarchies our backend uses."""
    if layout.backend == "v1":
        return {c: layout.v1[c].mountpoint for c in V1_CONTROLLERS if c in layout.v1}
    return {"cgroup": layout.unified.mountpoint}


def _parents(mountpoint: Path) -> list[Path]:
    found = []
    base_depth = len(mountpoint.parts)
    for dirpath, dirnames, _ in os.walk(mountpoint):
        if len(Path(dirpath).parts) - base_depth >= MAX_DEPTH:
            dirnames[:] = []
        if os.path.basename(dirpath) == PARENT_NAME:
            found.append(Path(dirpath))
            dirnames[:] = []   # do not look inside containers' own sub-cgroups
    return found


def find_leftovers(layout: CgroupLayout) -> dict[str, dict[str, Path]]:
    """{container id: {controller: directory}} for every ``minicontainer/<id>`` cgroup found."""
    found: dict[str, dict[str, Path]] = {}
    for ctrl, mountpoint in _hierarchies(layout).items():
        for parent in _parents(mountpoint):
            try:
                children = sorted(c for c in parent.iterdir() if c.is_dir())
            except OSError:
                continue
            for child in children:
                found.setdefault(child.name, {})[ctrl] = child
    return found


def leftover_manager(layout: CgroupLayout, container_id: str, dirs: dict[str, Path],
                     syscalls: Syscalls) -> CgroupManager:
    """A manager for one leftover, whose remove() kills what is left and rmdirs it and its empty parent."""
    bases = {d: d.parent.parent for d in dirs.values()}
    return manager_for_dirs(layout, f"{PARENT_NAME}/{container_id}", dirs, bases, syscalls)


def prune(layout: CgroupLayout, syscalls: Syscalls, keep: set[str] = frozenset()) -> list[str]:
    """Remove every minicontainer cgroup whose id is not in ``keep``; return the removed ids."""
    removed = []
    for cid, dirs in sorted(find_leftovers(layout).items()):
        if cid in keep:
            continue
        leftover_manager(layout, cid, dirs, syscalls).remove()
        removed.append(cid)
    return removed

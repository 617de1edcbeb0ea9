"""Control groups: limit, measure, freeze and kill a container's processes as one.

Namespaces decide what a container can *see*; cgroups decide how much it can *use*
(cgroups(7)). This package hides the two versions of the cgroup filesystem behind one
interface, as youki's libcgroups and runc's opencontainers/cgroups do::

    layout = detect(cgroup_root=Path("/sys/fs/cgroup"), proc_root=Path("/proc"))
    mgr = new_manager(layout, "minicontainer/<id>", syscalls)
    mgr.create(); mgr.apply(limits); mgr.add_process(pid)   # or write "0" into procs_files()
    mgr.stats(); mgr.oom_killed(); mgr.freeze(); mgr.thaw(); mgr.kill_all(); mgr.remove()

Modules: :mod:`.detect` (which version is mounted where), :mod:`.common` (the interface),
:mod:`.v1` and :mod:`.v2` (the backends), :mod:`.limits` (flags -> limits),
:mod:`.stats` (``docker stats``-like output), :mod:`.prune` (leftovers from crashes).
Only the standard library is imported: this is on the container start path.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..kernel.base import Syscalls
from .common import PARENT_NAME, CgroupManager, CgroupStats, container_cgroup_name
from .detect import V1_CONTROLLERS, CgroupLayout, Hierarchy, cgroup_dir, detect, parse_proc_cgroup
from .limits import Limits

__all__ = ["detect", "new_manager", "manager_for_dirs", "CgroupLayout", "CgroupManager", "CgroupStats", "Hierarchy",
           "Limits", "PARENT_NAME", "container_cgroup_name"]


def _clean_name(name: str) -> str:
    parts = [p for p in str(name).split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise UsageError(f"invalid cgroup name {name!r}", op="cgroup")
    if len(parts) == 1:           # a bare container id: put it under the shared parent
        parts.insert(0, PARENT_NAME)
    return "/".join(parts)


def _caller_cgroups(layout: CgroupLayout, proc_root: Path | None) -> dict[str, str]:
    if proc_root is None or Path(proc_root) == layout.proc_root and layout.own:
        return layout.own
    try:
        return parse_proc_cgroup((Path(proc_root) / "self" / "cgroup").read_text())
    except OSError:
        return layout.own


def new_manager(layout: CgroupLayout, name: str, syscalls: Syscalls, proc_root: Path | None = None) -> CgroupManager:
    """The manager of cgroup ``name`` (``minicontainer/<id>``, or a bare id, which gets that prefix).

    v1: placed under the caller's own cgroup in each hierarchy, read from
    ``<proc_root>/self/cgroup`` (as runc does; on this kind of host our memory cgroup may
    be ``/process_api/<hash>`` while the others are ``/``). v2: placed under the root of the
    hierarchy, because of the "no internal processes" rule (see :mod:`.v2`).
    """
    from .v1 import V1Manager
    from .v2 import V2Manager

    name = _clean_name(name)
    own = _caller_cgroups(layout, proc_root)
    dirs: dict[str, Path] = {}
    bases: dict[Path, Path] = {}
    if layout.backend == "v1":
        for ctrl in V1_CONTROLLERS:
            hierarchy = layout.v1.get(ctrl)
            if hierarchy is None:
                continue
            base = cgroup_dir(hierarchy, own.get(ctrl, "/"))
            dirs[ctrl] = base / name
            bases[base / name] = base
        return V1Manager(name, dirs, bases, syscalls, proc_root or layout.proc_root)
    hierarchy = layout.unified
    base = hierarchy.mountpoint
    for ctrl in ("cgroup",) + tuple(hierarchy.controllers):
        dirs[ctrl] = base / name
    bases[base / name] = base
    return V2Manager(name, dirs, bases, syscalls, proc_root or layout.proc_root)


def manager_for_dirs(layout: CgroupLayout, name: str, dirs: dict[str, Path], bases: dict[Path, Path],
                     syscalls: Syscalls) -> CgroupManager:
    """A manager for directories found on disk (see :mod:`.prune`), not derived from the caller."""
    from .v1 import V1Manager
    from .v2 import V2Manager

    cls = V1Manager if layout.backend == "v1" else V2Manager
    return cls(name, dirs, bases, syscalls, layout.proc_root)

"""Which cgroup hierarchies this machine has, and where the calling process sits in them.

A control group ("cgroup") is a directory in a special filesystem. Creating the directory
creates the group; the files the kernel puts in it are the knobs (``memory.max``) and the
meters (``memory.current``); writing a PID into ``cgroup.procs`` moves that process in.
See cgroups(7) and the kernel's Documentation/admin-guide/cgroup-v2.rst.

There are two versions of that filesystem, and a machine mounts them in one of three ways:

* **v1** ("legacy"): one ``cgroup`` mount per controller (or per group of co-mounted
  controllers), e.g. ``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu,cpuacct``. Each
  hierarchy has its own tree, so a process can sit in different places in each.
* **v2** ("unified"): a single ``cgroup2`` mount holding every controller in one tree.
  This is what current distributions (Fedora, Debian 11+, Ubuntu 21.10+) use.
* **hybrid**: the v1 mounts plus a ``cgroup2`` mount at ``<root>/unified``, usually with
  no controllers in it (systemd uses it only to track processes).

We find out by reading the mount table, ``/proc/self/mountinfo`` (see proc(5)): every line
names a mount point and, after the ``-`` separator, its filesystem type and super options;
for a v1 mount the options name its controllers. When there is no mount table (no /proc)
we fall back to statfs(2) "magic" numbers, as youki and runc do: ``CGROUP2_SUPER_MAGIC``
for a cgroup2 mount, ``CGROUP_SUPER_MAGIC`` for v1 (see statfs(2)).

Where the calling process sits comes from ``/proc/self/cgroup``: one line per hierarchy,
``hierarchy-id:controllers:path`` (the v2 line is ``0::path``).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CgroupError

# statfs(2) f_type values (include/uapi/linux/magic.h)
CGROUP_SUPER_MAGIC = 0x27E0EB
CGROUP2_SUPER_MAGIC = 0x63677270

# The v1 controllers our v1 backend drives, in the order it sets them up.
V1_CONTROLLERS = ("cpuset", "cpu", "cpuacct", "memory", "pids", "freezer")
# The v2 controllers our v2 backend enables in cgroup.subtree_control.
V2_CONTROLLERS = ("cpuset", "cpu", "memory", "pids")
# Every v1 controller name the kernel may list in a mount's options (kernel/cgroup/*.c).
_KNOWN_V1 = frozenset(V1_CONTROLLERS + ("devices", "blkio", "io", "net_cls", "net_prio", "perf_event",
                                        "hugetlb", "rdma", "misc"))


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy."""

    version: int                      # 1 or 2
    mountpoint: Path                  # where it is mounted (under the cgroup root)
    root: str                         # the cgroup shown at the mount point (mountinfo field 4), usually "/"
    controllers: tuple[str, ...]      # v1: from the mount options; v2: from cgroup.controllers


@dataclass(frozen=True)
class CgroupLayout:
    """What :func:`detect` found. ``mode`` is ``"v1"``, ``"hybrid"`` or ``"v2"``."""

    mode: str
    cgroup_root: Path
    proc_root: Path
    v1: dict[str, Hierarchy] = field(default_factory=dict)    # controller -> its hierarchy
    unified: Hierarchy | None = None
    own: dict[str, str] = field(default_factory=dict)         # controller ("" for v2) -> caller's cgroup

    @property
    def backend(self) -> str:
        """Which backend drives resources: v1 controllers win on a hybrid host, as in runc."""
        if self.mode == "v2" or not any(c in self.v1 for c in V1_CONTROLLERS):
            return "v2"
        return "v1"

    def hierarchy_dir(self, hierarchy: Hierarchy, cgroup_path: str) -> Path:
        """The directory of cgroup ``cgroup_path`` (as /proc/PID/cgroup names it) in ``hierarchy``."""
        return cgroup_dir(hierarchy, cgroup_path)

    def describe(self) -> list[str]:
        """Human-readable lines: mode, then each hierarchy and where we sit in it."""
        lines = [f"mode: {self.mode} (backend {self.backend})"]
        seen: set[Path] = set()
        for ctrl, h in sorted(self.v1.items(), key=lambda kv: str(kv[1].mountpoint)):
            if h.mountpoint in seen:
                continue
            seen.add(h.mountpoint)
            lines.append(f"v1 {','.join(h.controllers)}: {h.mountpoint} (we are in {self.own.get(ctrl, '?')})")
        if self.unified is not None:
            ctrls = " ".join(self.unified.controllers) or "(no controllers)"
            lines.append(f"v2: {self.unified.mountpoint} controllers: {ctrls} (we are in {self.own.get('', '?')})")
        return lines


def cgroup_dir(hierarchy: Hierarchy, cgroup_path: str) -> Path:
    """Map a cgroup path to a directory: strip the mount's own root, join to the mount point."""
    root = hierarchy.root.rstrip("/")
    path = cgroup_path if cgroup_path.startswith("/") else "/" + cgroup_path
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    elif root:
        # The cgroup lies outside what this mount shows (e.g. a bind mount of a subtree):
        # the best we can do is the mount point itself.
        path = "/"
    rel = path.strip("/")
    return hierarchy.mountpoint / rel if rel else hierarchy.mountpoint


def _unescape(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    out, i = [], 0
    while i < len(field_text):
        if field_text[i] == "\\" and i + 3 < len(field_text) and field_text[i + 1:i + 4].isdigit():
            out.append(chr(int(field_text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field_text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str, str, str]]:
    """Return ``(fstype, mountpoint, root, super_options)`` for each line of a mountinfo file."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 7:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 4:
            continue
        fstype, superopts = fields[sep + 1], fields[sep + 3]
        mounts.append((fstype, _unescape(fields[4]), _unescape(fields[3]), superopts))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/PID/cgroup`` -> {controller: path}; the v2 line is keyed ``""``."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if not ctrls:
            own[""] = path
            continue
        for ctrl in ctrls.split(","):
            own[ctrl] = path
    return own


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _v2_controllers(mountpoint: Path) -> tuple[str, ...]:
    text = _read(mountpoint / "cgroup.controllers")
    return tuple(text.split()) if text else ()


def _from_mountinfo(text: str, cgroup_root: Path) -> tuple[dict[str, Hierarchy], Hierarchy | None]:
    v1: dict[str, Hierarchy] = {}
    unified = None
    for fstype, mountpoint, root, superopts in parse_mountinfo(text):
        mp = Path(mountpoint)
        if fstype not in ("cgroup", "cgroup2") or not _within(mp, cgroup_root):
            continue
        if fstype == "cgroup2":
            unified = Hierarchy(2, mp, root, _v2_controllers(mp))
            continue
        opts = superopts.split(",")
        ctrls = tuple(o for o in opts if o in _KNOWN_V1 or o.startswith("name="))
        hierarchy = Hierarchy(1, mp, root, ctrls)
        for ctrl in ctrls:
            v1[ctrl] = hierarchy
    return v1, unified


def _statfs_type(path: Path) -> int | None:
    """f_type from statfs(2) (a read-only query, not a privileged call)."""
    try:   # glibc's soname; ctypes.util.find_library would spawn ldconfig(8) to learn the same
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library
        libc = ctypes.CDLL(find_library("c"), use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if libc.statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value


def _from_statfs(cgroup_root: Path) -> tuple[dict[str, Hierarchy], Hierarchy | None]:
    if _statfs_type(cgroup_root) == CGROUP2_SUPER_MAGIC:
        return {}, Hierarchy(2, cgroup_root, "/", _v2_controllers(cgroup_root))
    v1: dict[str, Hierarchy] = {}
    unified = None
    try:
        entries = sorted(p for p in cgroup_root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return {}, None
    for mp in entries:
        magic = _statfs_type(mp)
        if magic == CGROUP2_SUPER_MAGIC:
            unified = Hierarchy(2, mp, "/", _v2_controllers(mp))
        elif magic == CGROUP_SUPER_MAGIC:
            # Without a mount table the directory name is our only hint ("cpu,cpuacct").
            ctrls = tuple(c for c in mp.name.split(",") if c in _KNOWN_V1) or (f"name={mp.name}",)
            hierarchy = Hierarchy(1, mp, "/", ctrls)
            for ctrl in ctrls:
                v1[ctrl] = hierarchy
    return v1, unified


def detect(cgroup_root: Path, proc_root: Path) -> CgroupLayout:
    """Find the cgroup hierarchies mounted under ``cgroup_root``.

    Reads ``<proc_root>/self/mountinfo`` (statfs(2) when it is missing) and
    ``<proc_root>/self/cgroup``. Raises :class:`CgroupError` when no cgroup filesystem is
    mounted there.
    """
    cgroup_root, proc_root = Path(cgroup_root), Path(proc_root)
    mountinfo = _read(proc_root / "self" / "mountinfo")
    if mountinfo is not None:
        v1, unified = _from_mountinfo(mountinfo, cgroup_root)
    else:
        v1, unified = _from_statfs(cgroup_root)
    if not v1 and unified is None:
        raise CgroupError("no cgroup filesystem is mounted here", op="detect", path=cgroup_root)
    if unified is not None and unified.mountpoint == cgroup_root:
        mode = "v2"
    elif unified is not None and v1:
        mode = "hybrid"
    elif v1:
        mode = "v1"
    else:
        mode = "v2"   # a cgroup2 mount somewhere below the root, and nothing else
    own = parse_proc_cgroup(_read(proc_root / "self" / "cgroup") or "")
    return CgroupLayout(mode=mode, cgroup_root=cgroup_root, proc_root=proc_root, v1=v1, unified=unified, own=own)

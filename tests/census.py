"""A census of what containers can leave behind on the host, for leak checks after tests.

It lists, at one moment: mounts whose source or target lies under a state root (the
runtime never mounts anything in the host's namespace, so there should be none),
cgroup directories created by minicontainer, processes living in another PID namespace
(containers still running), and leftover container state directories.
"""

from __future__ import annotations

import os
from pathlib import Path

from minicontainer import paths


def mounts_under(root: Path, proc_root: Path = paths.PROC_ROOT) -> list[str]:
    text = (proc_root / "self" / "mountinfo").read_text()
    needle = str(root)
    return [line for line in text.splitlines() if needle in line]


def minicontainer_cgroups(cgroup_root: Path = paths.CGROUP_ROOT) -> list[str]:
    """Container cgroups: ``.../minicontainer/<64 hex digits>`` in any hierarchy."""
    found = []
    for dirpath, dirnames, _ in os.walk(cgroup_root):
        if os.path.basename(dirpath) == "minicontainer":
            found += [os.path.join(dirpath, d) for d in dirnames if len(d) == 64 and all(
                ch in "0123456789abcdef" for ch in d)]
            dirnames[:] = []
    return sorted(found)


def _root_mount_mentions(proc_root: Path, pid: str, needle: str) -> bool:
    """Is the process's root filesystem an overlay made from files under ``needle``?"""
    try:
        for line in (proc_root / pid / "mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == "/":
                return needle in line
    except OSError:
        pass
    return False


def foreign_pid_namespace_processes(proc_root: Path = paths.PROC_ROOT, state_root: Path | None = None) -> list[str]:
    """Processes in another PID namespace (containers); with ``state_root``, only that root's containers
    (their root mount is an overlay of directories under it), so that tests running beside other
    work on the same machine only see their own leftovers."""
    mine = os.readlink(proc_root / "self" / "ns" / "pid")
    out = []
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        try:
            ns = os.readlink(proc_root / entry / "ns" / "pid")
            if ns != mine and (state_root is None or _root_mount_mentions(proc_root, entry, str(state_root))):
                cmd = (proc_root / entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                out.append(f"{entry} {cmd.strip()}")
        except OSError:
            continue
    return sorted(out)


def container_dirs(state_root: Path) -> list[str]:
    d = state_root / "containers"
    return sorted(p for p in os.listdir(d) if p != ".lock") if d.is_dir() else []


def census(state_root: Path) -> dict[str, list[str]]:
    return {
        "mounts": mounts_under(state_root),
        "cgroups": minicontainer_cgroups(),
        "processes": foreign_pid_namespace_processes(state_root=state_root),
        "containers": container_dirs(state_root),
    }

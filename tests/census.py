"""A census of what containers can leave behind on the host, for leak checks after tests.

It lists, at one moment: mounts whose source or target lies under a state root (the
runtime never mounts anything in the host's namespace, so there should be none),
cgroup directories created by minicontainer, addresses the bridges still give its containers,
processes living in another PID namespace
(containers still running), and leftover container state directories; and, for the
lifecycle tests, the mc-monitor processes of one state root, host veths (``mcv*``), the
bridges of user networks (``mcbr-*``; the default network's ``mc0`` is shared by every state
root on the host and stays, as docker0 does) and named network namespaces (/run/netns).
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


def monitor_processes(state_root: Path, proc_root: Path = paths.PROC_ROOT) -> list[str]:
    """mc-monitor processes (and reapers) whose command line names this state root."""
    needle = str(state_root).encode()
    out = []
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        try:
            argv = (proc_root / entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and (os.path.basename(argv[0]) == b"mc-monitor" or b"minicontainer.runtime.reaper" in argv) \
                and any(needle in a for a in argv):
            out.append(f"{entry} {b' '.join(argv).decode(errors='replace').strip()}")
    return sorted(out)


def host_veths(sys_root: Path = Path("/sys")) -> list[str]:
    """Host ends of container veth pairs (named mcv<12 hex>), whoever made them."""
    d = sys_root / "class" / "net"
    return sorted(n for n in os.listdir(d) if n.startswith("mcv")) if d.is_dir() else []


def host_bridges(sys_root: Path = Path("/sys")) -> list[str]:
    """Bridges of user networks (``network create``: named mcbr-<8 hex>), whoever made them."""
    d = sys_root / "class" / "net"
    return sorted(n for n in os.listdir(d) if n.startswith("mcbr-")) if d.is_dir() else []


def named_netns(run_root: Path = Path("/run/netns")) -> list[str]:
    return sorted(os.listdir(run_root)) if run_root.is_dir() else []


def cgroups_of(ids, cgroup_root: Path = paths.CGROUP_ROOT) -> list[str]:
    """The container cgroups of these container ids (other state roots' are ignored)."""
    ids = set(ids)
    return [p for p in minicontainer_cgroups(cgroup_root) if os.path.basename(p) in ids]


def wait_for(pred, timeout: float = 10.0) -> bool:
    """Poll ``pred`` until it holds (True) or ``timeout`` seconds pass (False)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def addresses_of(state_root: Path, run_root: Path | None = None) -> list[str]:
    """Addresses the host-wide bridge tables (``<run_root>/ipam/<bridge>.json``) still give
    to containers of ``state_root``, as ``bridge address id``."""
    import json
    ipam = (run_root or paths.run_root()) / "ipam"
    me = os.path.abspath(state_root)
    out = []
    for table in sorted(ipam.glob("*.json")) if ipam.is_dir() else []:
        try:
            entries = json.loads(table.read_text())
        except (OSError, ValueError):
            continue
        out += [f"{table.stem} {addr} {e.get('id')}" for addr, e in sorted(entries.items())
                if isinstance(e, dict) and e.get("root") == me]
    return out


def census(state_root: Path) -> dict[str, list[str]]:
    return {
        "addresses": addresses_of(state_root),
        "mounts": mounts_under(state_root),
        "cgroups": minicontainer_cgroups(),
        "processes": foreign_pid_namespace_processes(state_root=state_root),
        "containers": container_dirs(state_root),
        "monitors": monitor_processes(state_root),
        "veths": host_veths(),
        "bridges": host_bridges(),
        "netns": named_netns(),
    }

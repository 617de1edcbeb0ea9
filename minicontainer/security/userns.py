"""User namespaces: root inside, an ordinary user outside (user_namespaces(7)).

A user namespace has its own numbering of users and groups. Two files of the process
that created it, ``/proc/PID/uid_map`` and ``gid_map``, say how its numbers translate to
the parent's, one range per line::

    0  1000  1        inside uid 0 is outside uid 1000, for 1 uid
    1  100000  65536  inside 1..65536 are outside 100000..165535

The first process of a new user namespace holds every capability *in it* (so it may
create mount, PID and network namespaces, mount an overlay or a tmpfs...), but those
capabilities mean nothing to objects the namespace does not own: a file owned by the
host's root stays out of reach, a device cannot be created (mknod(2) is refused). An
escape from such a container lands as uid 1000, not as root.

Who may write the maps is strictly limited. An ordinary user may only map *their own*
uid (one line), and must first write ``deny`` to ``/proc/PID/setgroups`` (otherwise
dropping a group with setgroups(2) could defeat a "deny this group" file permission).
Wider ranges, listed for each user in /etc/subuid and /etc/subgid, can only be mapped
by the set-user-ID helpers newuidmap(1) and newgidmap(1) (Debian package ``uidmap``).

The writer must be outside the new namespace, in its parent, which is why the runtime
writes the maps for the monitor: the monitor unshares the user namespace, tells the
runtime its PID, and waits until the maps are written before going on.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import MiniContainerError
from ..kernel import Syscalls
from ..kernel import constants as C

#: root's containers with ``--userns private`` and no /etc/subuid entry for root
DEFAULT_ROOT_RANGE = (100000, 65536)


@dataclass
class UsernsPlan:
    """The user namespace's id maps (see user_namespaces(7)) and who writes them."""

    uid_map: list[tuple[int, int, int]]          # (inside, outside, count)
    gid_map: list[tuple[int, int, int]]
    helper: bool = False                          # newuidmap/newgidmap write the maps
    deny_setgroups: bool = False                  # an unprivileged single-id map needs it
    proc_root: str = field(default_factory=lambda: str(paths.PROC_ROOT))

    @property
    def single(self) -> bool:
        """Only one id mapped (root inside): no other user exists in the container."""
        return len(self.uid_map) == 1 and self.uid_map[0][2] == 1

    @property
    def root_outside(self) -> tuple[int, int]:
        """The host uid and gid of the container's root."""
        return self.uid_map[0][1], self.gid_map[0][1]

    def to_dict(self) -> dict:
        return {"uid_map": [list(x) for x in self.uid_map], "gid_map": [list(x) for x in self.gid_map],
                "helper": self.helper}


def subordinate_ranges(path: str | os.PathLike, name: str, uid: int) -> list[tuple[int, int]]:
    """The ``(start, count)`` ranges /etc/subuid (or subgid) grants ``name`` or ``uid``, see subuid(5)."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count > 0:
            out.append((start, count))
    return out


def _user_name(uid: int) -> str:
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return str(uid)


def plan_for(uid: int | None = None, gid: int | None = None, *, etc_root: Path = paths.ETC_ROOT,
             proc_root: Path = paths.PROC_ROOT, which=shutil.which) -> UsernsPlan:
    """The maps for a container started by ``uid``: root's subordinate range for root; for
    anyone else their own uid as root, plus their /etc/subuid range through the helpers when
    both the range and the helpers exist."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    name = _user_name(uid)
    subuid = subordinate_ranges(Path(etc_root) / "subuid", name, uid)
    subgid = subordinate_ranges(Path(etc_root) / "subgid", name, uid)
    if uid == 0:
        ustart, ucount = subuid[0] if subuid else DEFAULT_ROOT_RANGE
        gstart, gcount = subgid[0] if subgid else DEFAULT_ROOT_RANGE
        return UsernsPlan([(0, ustart, ucount)], [(0, gstart, gcount)], proc_root=str(proc_root))
    if subuid and subgid and which("newuidmap") and which("newgidmap"):
        return UsernsPlan([(0, uid, 1), (1, subuid[0][0], subuid[0][1])],
                          [(0, gid, 1), (1, subgid[0][0], subgid[0][1])], helper=True, proc_root=str(proc_root))
    return UsernsPlan([(0, uid, 1)], [(0, gid, 1)], deny_setgroups=True, proc_root=str(proc_root))


def _lines(ranges) -> str:
    return "".join(f"{a} {b} {c}\n" for a, b, c in ranges)


def write_maps(sys: Syscalls, pid: int | str, plan: UsernsPlan) -> None:
    """Map the user namespace of process ``pid`` (called from its parent namespace)."""
    base = os.path.join(plan.proc_root, str(pid))
    if plan.helper:
        flat = lambda ranges: [str(n) for r in ranges for n in r]  # noqa: E731
        sys.run_helper(["newuidmap", str(pid), *flat(plan.uid_map)],
                       "newuidmap (set-user-ID) maps our uid and our /etc/subuid range")
        sys.run_helper(["newgidmap", str(pid), *flat(plan.gid_map)],
                       "newgidmap (set-user-ID) maps our gid and our /etc/subgid range")
        return
    if plan.deny_setgroups:
        sys.write_file(os.path.join(base, "setgroups"), "deny",
                       "an unprivileged gid_map needs setgroups(2) disabled in the namespace first")
    sys.write_file(os.path.join(base, "uid_map"), _lines(plan.uid_map),
                   "uid_map: who the container's users are on the host (root inside = "
                   f"uid {plan.uid_map[0][1]} outside)")
    sys.write_file(os.path.join(base, "gid_map"), _lines(plan.gid_map), "gid_map: the same for groups")


def read_map(text: str) -> list[tuple[int, int, int]]:
    """Parse the text of a uid_map or gid_map file."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return out


def in_initial_namespace(proc_root: Path = paths.PROC_ROOT) -> bool:
    """True when this process's uid_map is the identity over every uid (the host's namespace)."""
    try:
        text = (Path(proc_root) / "self" / "uid_map").read_text()
    except OSError:
        return True
    return read_map(text) == [(0, 0, 4294967295)]


def enter_userns(sys: Syscalls, plan: UsernsPlan, chan) -> None:
    """The monitor's first step in rootless mode: a new user namespace, mapped by the runtime.

    It comes first because it is what grants the capabilities to create the other
    namespaces. The maps must be written from the parent namespace, so we send our PID
    over ``chan`` and wait until the runtime answers that it has written them.
    """
    sys.unshare(C.CLONE_NEWUSER, "a user namespace: we become root in it, with every capability, but only "
                "over what it owns; first, because it is what allows the others to be created")
    def ask_runtime():
        chan.send({"type": "userns", "pid": os.getpid()})
        return chan.recv()[0]

    def runtime_maps_us():   # what the runtime does on that message (a dry run shows it in place)
        write_maps(sys, "<monitor>", plan)
        return {"type": "mapped"}

    msg = sys.plumb("ask the runtime for the maps", ask_runtime, peer=runtime_maps_us)
    if not msg or msg.get("type") != "mapped":
        raise MiniContainerError("the runtime did not map the user namespace", op="userns")

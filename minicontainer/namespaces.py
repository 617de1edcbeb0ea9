"""Namespaces: what a container can *see*.

A namespace wraps one global resource so that the processes inside get their own
instance of it (namespaces(7)). A container is a process placed in a fresh set:

=========  ==================  =====================================================
kind       clone flag          what the container gets of its own
=========  ==================  =====================================================
mnt        CLONE_NEWNS         mount table: its own root filesystem (mount_namespaces(7))
uts        CLONE_NEWUTS        hostname (uts_namespaces(7))
ipc        CLONE_NEWIPC        System V IPC and POSIX message queues (ipc_namespaces(7))
net        CLONE_NEWNET        network devices, addresses, routes, ports (network_namespaces(7))
pid        CLONE_NEWPID        process IDs: its first process is PID 1 (pid_namespaces(7))
cgroup     CLONE_NEWCGROUP     its cgroup appears as the root "/" (cgroup_namespaces(7))
user       CLONE_NEWUSER       user and group IDs (user_namespaces(7)); used by rootless mode
=========  ==================  =====================================================

unshare(2) moves the *calling* process into new namespaces, except for PID: after
``unshare(CLONE_NEWPID)`` only the caller's next child is born inside, as PID 1. That is
why the runtime forks once more after unsharing.

The order is data, as in youki's ``ORDERED_NAMESPACES``: the user namespace must come
first (it grants the privileges to create the others), and the cgroup namespace must be
created *after* the process has joined its cgroup, so that the cgroup is what it sees
as its root.
"""

from __future__ import annotations

from .kernel import constants as C

#: kind -> (clone flag, why it is unshared, one line for --explain)
NAMESPACES: dict[str, tuple[int, str]] = {
    "user": (C.CLONE_NEWUSER, "own user and group IDs: root inside, an ordinary user outside"),
    "mnt": (C.CLONE_NEWNS, "own mount table, so the container's root filesystem is invisible to the host"),
    "uts": (C.CLONE_NEWUTS, "own hostname"),
    "ipc": (C.CLONE_NEWIPC, "own System V IPC objects and message queues"),
    "net": (C.CLONE_NEWNET, "own network stack: only a loopback device to begin with"),
    "pid": (C.CLONE_NEWPID, "own process numbering: the next child becomes PID 1"),
    "cgroup": (C.CLONE_NEWCGROUP, "own view of the cgroup tree, rooted at the container's cgroup"),
}

ORDERED = ("user", "mnt", "uts", "ipc", "net", "pid", "cgroup")

#: the namespaces every container gets (user only in rootless/--userns private mode)
DEFAULT_KINDS = ("mnt", "uts", "ipc", "net", "pid", "cgroup")


def clone_flags(kinds) -> int:
    """OR together the clone flags for ``kinds``, validating each name."""
    flags = 0
    for kind in kinds:
        if kind not in NAMESPACES:
            from .errors import UsageError
            raise UsageError(f"unknown namespace kind {kind!r}", op="namespaces")
        flags |= NAMESPACES[kind][0]
    return flags


def describe(kinds) -> str:
    """One line naming the namespaces and what each gives, for the step's ``why``."""
    return "; ".join(f"{k}: {NAMESPACES[k][1]}" for k in ORDERED if k in kinds)


def namespace_ids(pid: int | str, proc_root) -> dict[str, str]:
    """The namespace identities of a process, read from ``<proc_root>/<pid>/ns/*``.

    Each entry is a magic link such as ``net:[4026531840]``; two processes are in the
    same namespace exactly when the inode numbers match.
    """
    import os
    out = {}
    base = os.path.join(os.fspath(proc_root), str(pid), "ns")
    for name in sorted(os.listdir(base)):
        try:
            out[name] = os.readlink(os.path.join(base, name))
        except OSError:
            continue
    return out

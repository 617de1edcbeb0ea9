"""Masked paths, read-only paths and a read-only root filesystem.

/proc and /sys are the kernel's own interfaces, and a PID or network namespace changes
only some of what they show. /proc/kcore is the host's physical memory, /proc/keys the
host's keyrings, /proc/sys/kernel/* the host kernel's settings, /proc/sysrq-trigger a way
to reboot the machine. So after pivot_root the container's mount table is edited once
more, with mount(2) only (no file is ever written):

* a **masked file** gets /dev/null bind-mounted over it: it reads as empty and cannot be
  written; a **masked directory** gets an empty read-only tmpfs over it;
* a **read-only path** is bind-mounted onto itself, then that bind is remounted
  ``MS_RDONLY``: a bind mount has its own per-mount flags (mount(8), "bind mounts").
  Inside a user namespace the flags the mount already had (nosuid, nodev, noexec) are
  *locked* and must be repeated in the remount, or the kernel answers EPERM;
* ``--read-only`` remounts the whole root read-only the same way, after mounting small
  tmpfs on /tmp and /run so programs still have somewhere to write.

These mounts live in the container's mount namespace; seccomp then denies umount2(2),
so the container cannot peel them off. See mount_namespaces(7) and proc(5).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..kernel import Syscalls
from ..kernel import constants as C

LOCKED = C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC


def _at(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def read_only_root(sys: Syscalls, root: str = "/") -> None:
    """--read-only: tmpfs on /tmp and /run, then the root itself read-only."""
    for inside, mode in (("/tmp", "1777"), ("/run", "755")):
        target = _at(root, inside)
        if not os.path.isdir(target):
            sys.mkdir(target, 0o755, f"mount point for {inside} (the root is about to become read-only)")
        sys.mount("tmpfs", target, "tmpfs", C.MS_NOSUID | C.MS_NODEV, f"mode={mode},size=65536k",
                  f"--read-only: a writable, memory-backed {inside}")
    sys.mount(None, root, None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY, None,
              "--read-only: the container's root filesystem becomes read-only (a per-mount flag)")


def mask(sys: Syscalls, paths: Sequence[str], root: str = "/") -> None:
    """Hide each existing path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    for inside in paths:
        target = _at(root, inside)
        if not os.path.lexists(target):
            continue
        if os.path.isdir(target):
            sys.mount("tmpfs", target, "tmpfs", C.MS_RDONLY, "size=0",
                      f"mask {inside}: an empty read-only directory over it")
        else:
            sys.mount(_at(root, "/dev/null"), target, None, C.MS_BIND, None,
                      f"mask {inside}: /dev/null over it reads as empty")


def make_read_only(sys: Syscalls, paths: Sequence[str], root: str = "/") -> None:
    """Bind each existing path onto itself and remount that bind read-only."""
    for inside in paths:
        target = _at(root, inside)
        if not os.path.lexists(target):
            continue
        sys.mount(target, target, None, C.MS_BIND | C.MS_REC, None,
                  f"{inside}: a bind mount of its own, so it can get its own flags")
        sys.mount(None, target, None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | LOCKED, None,
                  f"{inside}: read-only (writes here would change the host's kernel)")


def harden(sys: Syscalls, *, masked: Sequence[str] = (), readonly: Sequence[str] = (),
           read_only_rootfs: bool = False, root: str = "/") -> None:
    """The step after pivot_root: the read-only root, then masked and read-only paths."""
    if read_only_rootfs:
        read_only_root(sys, root)
    mask(sys, masked, root)
    make_read_only(sys, readonly, root)

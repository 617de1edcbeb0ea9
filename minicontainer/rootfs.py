"""The container's root filesystem, assembled inside its new mount namespace.

Everything here runs in the container's first process after unshare(CLONE_NEWNS), so
every mount is private to the container and disappears by itself when its last process
exits: nothing is ever mounted in the host's mount table, and a crash cannot leak a mount.

The steps, in order (mount(2), pivot_root(2), mount_namespaces(7)):

1. make every mount private (``MS_REC|MS_PRIVATE``) so nothing we do propagates back
   to the host through shared subtrees;
2. mount the overlay of the image layers plus the container's upper directory;
3. mount a fresh /proc (it shows the new PID namespace), a read-only /sys, and a small
   tmpfs /dev holding only safe device nodes, a private devpts instance and /dev/shm;
4. bind the runtime's generated /etc/hosts, /etc/hostname and /etc/resolv.conf;
5. pivot_root: the overlay becomes "/", and the old root is detached. Unlike chroot(2),
   which only changes one process's idea of "/", pivot_root changes the mount namespace's
   root, so no ``chdir("..")`` trick can climb back out once the old root is unmounted.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from collections.abc import Sequence

from .errors import UsageError
from .kernel import Syscalls
from .kernel import constants as C
from .overlay import overlay_options
from .security.masks import harden

#: (name, major, minor): the device nodes a container gets, as in the OCI runtime spec's defaults
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))
RO_FLAGS = C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC


@dataclass
class RootfsPlan:
    """What to assemble: the image layers (lowest first), the container's dirs, files to bind."""

    layers: Sequence[str]
    upper: str
    work: str
    merged: str
    binds: dict[str, str] = field(default_factory=dict)   # path in container -> host file
    volumes: list[dict] = field(default_factory=list)     # runtime.volumes.mounts_for(): -v and --tmpfs
    readonly_proc_sys: bool = True
    # security (minicontainer.security.masks), applied right after pivot_root
    masked_paths: Sequence[str] = ()
    readonly_paths: Sequence[str] = ()
    read_only_root: bool = False
    bind_devices: bool = False   # in a user namespace mknod(2) is refused: bind the host's nodes
    host_dev: str = "/dev"


def _inside(merged: str, path: str) -> str:
    return os.path.join(merged, path.lstrip("/"))


def _ensure_dir(sys: Syscalls, plan: "RootfsPlan", inside: str, why: str) -> str:
    """The host path of ``inside`` in the new root, created there if the image lacks it."""
    if not _in_image(plan, inside):
        sys.mkdir(_inside(plan.merged, inside), 0o755, why)
    return _inside(plan.merged, inside)


def make_private(sys: Syscalls) -> None:
    sys.mount(None, "/", None, C.MS_REC | C.MS_PRIVATE, None,
              "stop mount events propagating between the host and the container")


def mount_overlay(sys: Syscalls, plan: RootfsPlan) -> None:
    data = overlay_options(plan.layers, plan.upper, plan.work)
    sys.mount("overlay", plan.merged, "overlay", 0, data,
              f"union of {len(plan.layers)} read-only image layer(s) and this container's writable upper dir")


def mount_proc_sys(sys: Syscalls, plan: RootfsPlan) -> None:
    proc = _ensure_dir(sys, plan, "/proc", "mount point for /proc")
    ro = C.MS_RDONLY if plan.readonly_proc_sys else 0
    sys.mount("proc", proc, "proc", (RO_FLAGS & ~C.MS_RDONLY) | ro, None,
              "a /proc that lists only the processes of the new PID namespace")
    sysfs = _ensure_dir(sys, plan, "/sys", "mount point for /sys")
    sys.mount("sysfs", sysfs, "sysfs", (RO_FLAGS & ~C.MS_RDONLY) | ro, None,
              "a read-only /sys showing the new network namespace's devices")


def populate_dev(sys: Syscalls, plan: RootfsPlan) -> None:
    dev = _ensure_dir(sys, plan, "/dev", "mount point for /dev")
    sys.mount("tmpfs", dev, "tmpfs", C.MS_NOSUID | C.MS_STRICTATIME, "mode=755,size=65536k",
              "an empty /dev: the container sees only the devices we create, not the host's disks")
    old_umask = os.umask(0)     # mknod(2) masks the mode with the umask: these nodes are 0666 for every user
    try:
        for name, major, minor in DEVICES:
            if plan.bind_devices:
                sys.mknod(os.path.join(dev, name), stat.S_IFREG | 0o666, 0, 0, f"an empty /dev/{name} to bind over")
                sys.mount(os.path.join(plan.host_dev, name), os.path.join(dev, name), None, C.MS_BIND, None,
                          f"/dev/{name}: the host's node, bound (a user namespace may not mknod devices)")
                continue
            sys.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, major, minor, f"/dev/{name} ({major}:{minor})")
    finally:
        os.umask(old_umask)
    pts = os.path.join(dev, "pts")
    sys.mkdir(pts, 0o755, "mount point for devpts")
    sys.mount("devpts", pts, "devpts", C.MS_NOSUID | C.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620",
              "a private instance of pseudo-terminals: the container cannot reach the host's ttys")
    shm = os.path.join(dev, "shm")
    sys.mkdir(shm, 0o1777, "mount point for POSIX shared memory")
    sys.mount("shm", shm, "tmpfs", C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, "mode=1777,size=65536k",
              "the container's own /dev/shm")
    for name, target in DEV_LINKS:
        sys.symlink(target, os.path.join(dev, name), f"/dev/{name} -> {target}")


def _in_image(plan: RootfsPlan, inside: str) -> bool:
    """Does ``inside`` exist in the container's root? (Asked of the layers too, for a dry run.)"""
    roots = [plan.merged] if os.path.ismount(plan.merged) else [plan.upper, *reversed(plan.layers)]
    return any(os.path.lexists(_inside(root, inside)) for root in roots)


def bind_files(sys: Syscalls, plan: RootfsPlan) -> None:
    for inside, host_file in plan.binds.items():
        target = _inside(plan.merged, inside)
        if not _in_image(plan, inside):
            _ensure_dir(sys, plan, os.path.dirname(inside), f"parent of {inside}")
            sys.mknod(target, stat.S_IFREG | 0o644, 0, 0, f"an empty {inside} to bind over")
        sys.mount(host_file, target, None, C.MS_BIND, None, f"{inside} generated by the runtime for this container")


def resolve_in_root(root: str, path: str, *, follow_last: bool = True) -> str:
    """The host path of ``path`` as the container sees it, with symlinks resolved *inside* ``root``.

    A container's ``/data -> /etc`` means the container's /etc: followed naively from the
    host it would reach the host's /etc. So every component is looked at in turn: an
    absolute link restarts at ``root``, ``..`` never climbs above it (the spirit of
    openat2(2)'s RESOLVE_IN_ROOT). Missing components are kept as they are.
    """
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = os.path.join(root, *done, part)
        if (todo or follow_last) and os.path.islink(here):
            hops += 1
            if hops > 40:  # as the kernel's MAXSYMLINKS: a loop
                raise UsageError("too many levels of symbolic links", op="resolve", path=path)
            link = os.readlink(here)
            if link.startswith("/"):
                done = []
            todo = [p for p in link.split("/") if p not in ("", ".")] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


def mount_volumes(sys: Syscalls, plan: RootfsPlan) -> None:
    """-v and --tmpfs: bind host directories or volumes over container paths, or mount a tmpfs.

    A bind mount shows the same inodes at a second place (mount(2), MS_BIND; MS_REC takes
    the mounts below the source along). The kernel ignores MS_RDONLY on the bind itself,
    so ``:ro`` is a second call, MS_REMOUNT|MS_BIND|MS_RDONLY, on the new mount only.
    The target is resolved inside the container's root, so a symlink in the image cannot
    point a mount at a host path; missing directories (or, for a file, an empty file) are
    made in the container's upper layer to mount over.
    """
    live = os.path.ismount(plan.merged)   # a dry run has no overlay to look into
    for vol in plan.volumes:
        inside = vol["target"]
        target = resolve_in_root(plan.merged, inside) if live else _inside(plan.merged, inside)
        is_file = vol["type"] == "bind" and os.path.exists(vol["source"]) and not os.path.isdir(vol["source"])
        if not (os.path.lexists(target) if live else _in_image(plan, inside)):
            rel = os.path.relpath(target, plan.merged).split(os.sep)
            for depth in range(1, len(rel) + 1):
                path = os.path.join(plan.merged, *rel[:depth])
                if live and os.path.lexists(path):
                    continue
                if depth == len(rel) and is_file:
                    sys.mknod(path, stat.S_IFREG | 0o644, 0, 0, f"an empty file to bind {inside} over")
                else:
                    sys.mkdir(path, 0o755, f"mount point for {inside}")
        if vol["type"] == "tmpfs":
            sys.mount("tmpfs", target, "tmpfs", vol.get("flags", 0), vol.get("data") or None,
                      f"--tmpfs {inside}: a memory-backed filesystem private to this container")
            continue
        what = "the volume" if vol["type"] == "volume" else "the host path"
        sys.mount(vol["source"], target, None, C.MS_BIND | C.MS_REC, None,
                  f"-v: {what} {vol['source']} appears at {inside} (same inodes, not a copy)")
        if vol.get("readonly"):
            sys.mount(None, target, None, C.MS_REMOUNT | C.MS_BIND | C.MS_RDONLY, None,
                      f":ro: make {inside} read-only (MS_RDONLY is ignored on the first bind)")


def pivot(sys: Syscalls, merged: str) -> None:
    """Make ``merged`` the root with the ``pivot_root(".", ".")`` idiom.

    With both arguments "." the old root ends up stacked on top of the new one at "/";
    unmounting "/" with MNT_DETACH then drops the old root, and no ``.oldroot`` directory
    is left behind in the container's upper layer (a trick runc uses too).
    """
    sys.chdir(merged, "enter the new root before swapping")
    sys.pivot_root(".", ".", "the overlay becomes '/' of this mount namespace; the host's root is stacked on it")
    sys.umount2(".", C.MNT_DETACH, "detach the host's root: from here on nothing outside the overlay is reachable")
    sys.chdir("/", "start from the new root")


def assemble(sys: Syscalls, plan: RootfsPlan) -> None:
    """All of the above, in order. Must run in a fresh mount (and PID) namespace."""
    make_private(sys)
    mount_overlay(sys, plan)
    mount_proc_sys(sys, plan)
    populate_dev(sys, plan)
    bind_files(sys, plan)
    mount_volumes(sys, plan)
    pivot(sys, plan.merged)
    harden(sys, masked=plan.masked_paths, readonly=plan.readonly_paths,
           read_only_rootfs=plan.read_only_root)

"""The container's root filesystem, assembled inside its new mount namespace.

Everything here runs in the container's first process after unshare(CLONE_NEWNS), so
every mount is private to the container and disappears by itself when its last process
exits: nothing is ever mounted in the host's mount table, and a crash cannot leak a mount.

The steps, in order (mount(2), pivot_root(2), mount_namespaces(7)):

1. make every mount private (``MS_REC|MS_PRIVATE``) so nothing we do propagates back
   to the host through shared subtrees;
2. mount the root: the overlay of the image layers plus the container's upper directory,
   or (an OCI bundle's plain ``rootfs`` directory) a bind mount of that directory onto
   itself, since pivot_root(2) needs a mount point;
3. mount config.json's ``mounts`` in order: a fresh /proc (it shows the new PID
   namespace), a read-only /sys, a small tmpfs /dev, a private devpts instance,
   /dev/shm, the runtime's generated /etc/hosts, /etc/hostname, /etc/resolv.conf, and
   the ``-v``/``--tmpfs`` volumes; each target resolved *inside* the root;
4. create the safe device nodes in a tmpfs /dev (and config.json's ``linux.devices``);
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
    """What to assemble: the root (an overlay of ``layers``, or the plain directory ``root``),
    then ``mounts`` in order (:class:`~minicontainer.oci.mounts.MountCall`, from config.json)."""

    root: str
    layers: Sequence[str] = ()          # lowest first; none: ``root`` is a plain directory
    upper: str = ""
    work: str = ""
    mounts: list = field(default_factory=list)
    propagation: int = C.MS_REC | C.MS_PRIVATE   # linux.rootfsPropagation, applied to "/" first
    devices: list = field(default_factory=list)  # extra nodes: (path, S_IF* kind, major, minor, mode)
    default_devices: bool = True        # the nodes of DEVICES in a tmpfs /dev
    sysctl: dict = field(default_factory=dict)   # linux.sysctl, written under the new /proc before pivot_root
    # security (minicontainer.security.masks), applied right after pivot_root
    masked_paths: Sequence[str] = ()
    readonly_paths: Sequence[str] = ()
    read_only_root: bool = False
    bind_devices: bool = False   # in a user namespace mknod(2) is refused: bind the host's nodes
    host_dev: str = "/dev"

    @property
    def merged(self) -> str:
        return self.root


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def make_private(sys: Syscalls, flags: int = C.MS_REC | C.MS_PRIVATE) -> None:
    sys.mount(None, "/", None, flags, None,
              "stop mount events propagating between the host and the container")


def mount_root(sys: Syscalls, plan: RootfsPlan) -> None:
    if plan.layers:
        data = overlay_options(plan.layers, plan.upper, plan.work)
        sys.mount("overlay", plan.root, "overlay", 0, data,
                  f"union of {len(plan.layers)} read-only image layer(s) and this container's writable upper dir")
        return
    sys.mount(plan.root, plan.root, None, C.MS_BIND | C.MS_REC, None,
              "the bundle's root directory, bound onto itself: pivot_root needs a mount point")


class _View:
    """What exists in the root being built, asked of the real tree once it is mounted, and of
    the image layers (and of the mounts made so far) in a dry run, where nothing is mounted."""

    def __init__(self, plan: RootfsPlan):
        self.plan = plan
        self.live = os.path.ismount(plan.root)
        self.fresh: list[str] = []    # destinations of new, empty filesystems (tmpfs, proc...)

    def target(self, inside: str) -> str:
        return resolve_in_root(self.plan.root, inside) if self.live else _inside(self.plan.root, inside)

    def exists(self, inside: str) -> bool:
        if self.live:
            return os.path.lexists(self.target(inside))
        norm = "/" + inside.strip("/")
        if any(norm == d or norm.startswith(d.rstrip("/") + "/") for d in self.fresh):
            return any(norm == d for d in self.fresh)
        roots = [self.plan.upper, *reversed(self.plan.layers)] if self.plan.layers else [self.plan.root]
        return any(os.path.lexists(_inside(r, norm)) for r in roots if r)


def _mount_point(sys: Syscalls, view: _View, inside: str, is_file: bool) -> str:
    """The host path of ``inside``, with missing directories (or an empty file) made to mount over."""
    target = view.target(inside)
    if view.exists(inside):
        return target
    parts = [p for p in inside.split("/") if p]
    for depth in range(1, len(parts) + 1):
        sub = "/" + "/".join(parts[:depth])
        if view.exists(sub):
            continue
        path = view.target(sub)
        if depth == len(parts) and is_file:
            sys.mknod(path, stat.S_IFREG | 0o644, 0, 0, f"an empty {inside} to bind over")
        else:
            sys.mkdir(path, 0o755, f"mount point for {inside}")
        if not view.live:
            view.fresh.append(sub)
    return target


def mount_all(sys: Syscalls, plan: RootfsPlan, view: _View | None = None) -> None:
    """config.json's mounts, in order: each one mount(2), plus a read-only remount for a
    ``ro`` bind and a propagation change when an option asks for one."""
    view = view or _View(plan)
    for m in plan.mounts:
        is_file = m.bind and m.source is not None and (
            m.source_is_file if m.source_is_file is not None else os.path.isfile(m.source))
        target = _mount_point(sys, view, m.destination, is_file)
        sys.mount(m.source, target, m.fstype, m.flags, m.data or None, m.why or f"{m.destination}")
        if not m.bind and not view.live:
            view.fresh.append(m.destination)
        if m.readonly_remount:
            sys.mount(None, target, None, m.remount_flags(), None,
                      f"{m.destination} read-only (MS_RDONLY is ignored on the first bind)")
        if m.propagation:
            sys.mount(None, target, None, m.propagation, None, f"{m.destination}: its mount propagation")


def create_devices(sys: Syscalls, plan: RootfsPlan) -> None:
    """The device nodes of a tmpfs /dev, and its usual links (/dev/fd, /dev/ptmx...)."""
    dev = _inside(plan.root, "/dev")
    nodes = [(f"/dev/{name}", stat.S_IFCHR, major, minor, 0o666) for name, major, minor in DEVICES] \
        if plan.default_devices else []
    old_umask = os.umask(0)     # mknod(2) masks the mode with the umask: these nodes are 0666 for every user
    try:
        for path, kind, major, minor, mode in nodes + list(plan.devices):
            target = _inside(plan.root, path)
            if plan.bind_devices:
                sys.mknod(target, stat.S_IFREG | 0o666, 0, 0, f"an empty {path} to bind over")
                sys.mount(_inside(plan.host_dev, path[len("/dev/"):]), target, None, C.MS_BIND, None,
                          f"{path}: the host's node, bound (a user namespace may not mknod devices)")
                continue
            sys.mknod(target, kind | mode, major, minor, f"{path} ({major}:{minor})")
    finally:
        os.umask(old_umask)
    if plan.default_devices:
        for name, target in DEV_LINKS:
            if not os.path.lexists(os.path.join(dev, name)):
                sys.symlink(target, os.path.join(dev, name), f"/dev/{name} -> {target}")


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
    make_private(sys, plan.propagation)
    mount_root(sys, plan)
    mount_all(sys, plan)
    create_devices(sys, plan)
    for key, value in plan.sysctl.items():
        sys.write_file(_inside(plan.root, "/proc/sys/" + key.replace(".", "/")), value,
                       f"linux.sysctl {key}={value} (a setting of the container's own namespace)")
    pivot(sys, plan.root)
    if plan.read_only_root:
        sys.mount(None, "/", None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY, None,
                  "root.readonly: the container's root filesystem becomes read-only (a per-mount flag)")
    harden(sys, masked=plan.masked_paths, readonly=plan.readonly_paths)

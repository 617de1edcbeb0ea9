"""``cp``: copy files between the host and a container's root filesystem.

Where is a container's filesystem, seen from the host?

* while it **runs**, ``/proc/PID/root`` (proc(5)) is a magic link to the root directory
  of PID 1 — the overlay, with its volumes and /proc, /dev mounts — as the host can
  reach it, even though the overlay is mounted only in the container's own mount
  namespace;
* once it has **stopped** nothing is mounted any more: the files are the image layers
  plus the container's upper directory. We mount the same overlay again, in a child
  process that first unshare(2)s a private mount namespace, copy there, and exit: the
  mount dies with that namespace, so the host's mount table never sees it, even if we
  crash half-way (mount_namespaces(7)). The kernel applies the whiteouts for us.

Either way the path the user names is a *container* path, and a container's symlinks
mean container paths: ``/data -> /etc`` means the container's /etc, not the host's.
Paths are therefore resolved component by component inside the root
(:func:`minicontainer.rootfs.resolve_in_root`), and the copy itself never follows a
symlink: links are copied as links, and a link in the way of a file being written is
replaced, not written through. (A process inside a running container could still swap
a directory for a link between our check and our write; openat2(2) with RESOLVE_IN_ROOT
closes that window, at the price of fd-relative code everywhere.)

As ``docker cp``: copying to an existing directory puts the source inside it; a source
ending in ``/.`` copies the directory's contents; devices, FIFOs and sockets are skipped.
"""

from __future__ import annotations

import os
import stat

from ..errors import NotFoundError, UsageError
from ..kernel import constants as C
from ..rootfs import make_private, resolve_in_root
from .channel import run_in_child
from .state import Status


def split_ref(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` -> (container, path); a host path (absolute, ./relative or no colon) -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ref, _, path = arg.partition(":")
    return ref, path or "/"


def copy(rt, src: str, dst: str, *, follow_link: bool = False) -> dict:
    """``cp SRC DST`` where exactly one side is ``CONTAINER:PATH``; what was copied."""
    (sref, spath), (dref, dpath) = split_ref(src), split_ref(dst)
    if (sref is None) == (dref is None):
        raise UsageError("copying between containers is not supported" if sref else
                         "must specify at least one container source", op="cp")
    c = rt.refresh(rt.containers.get(sref or dref))
    if sref is not None:
        job = lambda root: copy_out(root, spath, dpath, follow_link=follow_link, name=c.name)
    else:
        if not os.path.lexists(spath):
            raise NotFoundError(f"no such file or directory: {spath}", op="cp", path=spath)
        job = lambda root: copy_in(root, spath, dpath, follow_link=follow_link, name=c.name)
    if c.state in (Status.RUNNING, Status.PAUSED):
        return job(str(rt.proc_root / str(c.pid) / "root"))
    with rt.containers.lock(c):  # no start may mount the same upper dir meanwhile
        return in_private_overlay(rt, c, job)


# --------------------------------------------------------------------------- the copy itself
def copy_out(root: str, inside: str, host_dst: str, *, follow_link: bool = False, name: str = "") -> dict:
    contents = inside.endswith("/.")
    src = resolve_in_root(root, inside, follow_last=follow_link or contents)
    if not os.path.lexists(src):
        raise NotFoundError(f"could not find the file {inside} in container {name}", op="cp")
    return _place(src, host_dst, contents, _host_target)


def copy_in(root: str, host_src: str, inside: str, *, follow_link: bool = False, name: str = "") -> dict:
    contents = host_src.endswith("/.")
    src = os.path.realpath(host_src) if follow_link or contents else os.path.abspath(host_src)
    return _place(src, inside, contents, lambda path: _container_target(root, path, name))


def _place(src: str, dst_arg: str, contents: bool, target) -> dict:
    """Docker's rules for where SRC lands, given what DST is."""
    dst, exists_dir = target(dst_arg)
    is_dir = stat.S_ISDIR(os.lstat(src).st_mode)
    report = {"files": 0, "bytes": 0, "skipped": []}
    if contents:
        if not is_dir:
            raise UsageError("source is not a directory", op="cp", path=src)
        if not exists_dir:
            if os.path.lexists(dst):
                raise UsageError("cannot copy a directory over a non-directory", op="cp", path=dst_arg)
            os.mkdir(dst, 0o755)
        for entry in sorted(os.listdir(src)):
            _copy(os.path.join(src, entry), os.path.join(dst, entry), report)
        return report
    if exists_dir:
        dst = os.path.join(dst, os.path.basename(src.rstrip("/")) or "root")
    elif dst_arg.endswith("/") and not is_dir:
        raise UsageError("destination directory does not exist", op="cp", path=dst_arg)
    _copy(src, dst, report)
    return report


def _host_target(path: str) -> tuple[str, bool]:
    path = os.path.abspath(path)
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not os.path.isdir(path) and not os.path.isdir(parent):
        raise NotFoundError(f"no such directory: {parent}", op="cp", path=parent)
    return path, os.path.isdir(path)


def _container_target(root: str, inside: str, name: str) -> tuple[str, bool]:
    full = resolve_in_root(root, inside)
    if os.path.isdir(full) and not os.path.islink(full):
        return full, True
    parent = resolve_in_root(root, os.path.dirname(inside.rstrip("/")) or "/")
    if not os.path.isdir(parent) or os.path.islink(parent):
        raise NotFoundError(f"could not find the directory {os.path.dirname(inside)} in container {name}", op="cp")
    return os.path.join(parent, os.path.basename(inside.rstrip("/"))), False


def _copy(src: str, dst: str, report: dict) -> None:
    """Copy one tree without following any symlink, on either side."""
    st = os.lstat(src)
    mode = stat.S_IMODE(st.st_mode)
    try:
        old = os.lstat(dst)
    except FileNotFoundError:
        old = None
    if stat.S_ISDIR(st.st_mode):
        if old is None:
            os.mkdir(dst, 0o700)
        elif not stat.S_ISDIR(old.st_mode):
            raise UsageError("cannot overwrite non-directory with directory", op="cp", path=dst)
        for entry in sorted(os.listdir(src)):
            _copy(os.path.join(src, entry), os.path.join(dst, entry), report)
        os.chmod(dst, mode)
    elif stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                raise UsageError("cannot overwrite directory with non-directory", op="cp", path=dst)
            os.unlink(dst)   # a link (or file) in the way is replaced, never written through
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        else:
            report["bytes"] += _copy_file(src, dst, mode)
    else:
        report["skipped"].append(src)
        return
    report["files"] += 1
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, dst: str, mode: int) -> int:
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        total = 0
        try:
            while chunk := os.read(fin, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fout, view):]
                total += len(chunk)
            os.fchmod(fout, mode)
        finally:
            os.close(fout)
        return total
    finally:
        os.close(fin)


# --------------------------------------------------------------------------- stopped containers
def in_private_overlay(rt, c, job) -> dict:
    """Run ``job(root)`` in a child with the container's overlay mounted in a private mount namespace."""
    from ..overlay import overlay_options
    image = rt.images().resolve(c.image_id)
    data = overlay_options([str(p) for p in image.layer_dirs], c.upper_dir, c.work_dir)
    sys = rt.sys

    def mounted_job():
        sys.unshare(C.CLONE_NEWNS, "a private mount namespace: the overlay vanishes when this helper exits")
        make_private(sys)
        sys.mount("overlay", str(c.merged_dir), "overlay", 0, data,
                  "the container's files as it saw them: image layers under its upper dir")
        return job(str(c.merged_dir))

    return run_in_child(sys, "a helper that mounts the stopped container's overlay where only it can see it",
                        mounted_job)

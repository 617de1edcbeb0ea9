"""Write a directory as a layer tar, translating overlay whiteouts into ``.wh.`` entries.

A layer is a plain POSIX tar (pax format) of one directory, relative names, parents
before children, sorted so the same tree always gives the same bytes and therefore the
same digest. Taken from a container's overlay *upper* directory, the tree may hold
overlay whiteouts (0/0 character devices) and opaque directories; they become the OCI
entries ``.wh.NAME`` and ``DIR/.wh..wh..opq`` (see :mod:`.whiteouts`). Files with
several links are written once and then as hard-link entries. Links are never
followed: a symlink is stored as a symlink. See tar(5) and the pax format in POSIX.
"""

from __future__ import annotations

import os
import stat

from ..errors import ImageError
from . import whiteouts as wh

_TYPES = {stat.S_IFDIR: "DIRTYPE", stat.S_IFREG: "REGTYPE", stat.S_IFLNK: "SYMTYPE",
          stat.S_IFCHR: "CHRTYPE", stat.S_IFBLK: "BLKTYPE", stat.S_IFIFO: "FIFOTYPE"}


def _walk(root: str, rel: str = ""):
    """Yield (relpath, abspath, stat) depth-first, sorted, parents first, no links followed."""
    here = os.path.join(root, rel) if rel else root
    try:
        entries = sorted(os.scandir(here), key=lambda e: e.name)
    except OSError as err:
        raise ImageError(f"cannot list directory: {err.strerror.lower()}", op="layer tar", path=here) from err
    for entry in entries:
        relpath = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield relpath, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, relpath)


def write_layer(src_dir, out, *, translate_overlay: bool = True, mtime: int | None = None,
                owner: tuple[int, int] | None = None, progress=None) -> int:
    """Write ``src_dir`` as a tar into the binary file object ``out``; return the entry count.

    ``translate_overlay`` turns overlay whiteouts into ``.wh.`` entries (for an upper
    directory). ``mtime``/``owner`` override every entry's (for reproducible base images).
    """
    import tarfile  # lazy: not on the container start path

    src = os.fspath(src_dir)
    count = 0
    seen_inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for relpath, path, st in _walk(src):
            kind = wh.overlay_kind(st, path) if translate_overlay else wh.PLAIN
            if kind == wh.WHITEOUT:
                info = _info(tarfile, wh.oci_whiteout_name(relpath), st, mtime, owner)
                info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, 0
                tar.addfile(info)
                count += 1
                continue
            fmt = stat.S_IFMT(st.st_mode)
            if fmt not in _TYPES:
                raise ImageError("cannot store a socket in a layer", op="layer tar", path=path)
            info = _info(tarfile, relpath, st, mtime, owner)
            info.type = getattr(tarfile, _TYPES[fmt])
            fileobj = None
            if fmt == stat.S_IFREG and st.st_nlink > 1:
                first = seen_inodes.setdefault((st.st_dev, st.st_ino), relpath)
                if first != relpath:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
            if info.type == tarfile.REGTYPE:
                info.size = st.st_size
                fileobj = _open_nofollow(path)
            elif fmt == stat.S_IFLNK:
                info.linkname = os.readlink(path)
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            try:
                tar.addfile(info, fileobj)
            finally:
                if fileobj is not None:
                    fileobj.close()
            count += 1
            if progress is not None:
                progress(info.size + 512)
            if kind == wh.OPAQUE:
                opq = _info(tarfile, wh.oci_opaque_name(relpath), st, mtime, owner)
                opq.type, opq.mode, opq.size = tarfile.REGTYPE, 0o644, 0
                tar.addfile(opq)
                count += 1
    return count


def _info(tarfile, name: str, st: os.stat_result, mtime, owner):
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = owner if owner is not None else (st.st_uid, st.st_gid)
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime) if mtime is None else mtime
    return info


def _open_nofollow(path: str):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise ImageError(f"cannot read: {err.strerror.lower()}", op="layer tar", path=path) from err
    return os.fdopen(fd, "rb", buffering=1 << 20)

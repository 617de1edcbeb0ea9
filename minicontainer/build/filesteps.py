"""COPY, ADD and WORKDIR: layers made on the host, without starting a container.

A layer is just a directory tree of what a step adds. RUN needs a container to find
out what a command writes (see :mod:`.runstep`), but COPY knows in advance: the builder
makes a fresh *staging* directory, places the copied files in it at their destination
path, and hands it to the images package, which tars it into a layer exactly as it does
a container's upper directory (:func:`minicontainer.images.commit.layer_from_dir`).

One subtlety is the parent directories. To put ``/app/bin/tool`` in a layer, the tar
must also contain ``app`` and ``app/bin``; overlayfs then *merges* them with the
directories of the same name in lower layers, and the topmost copy's owner and mode
win. So a parent that the image already has is created here with the image's own
owner, mode and time (read from the topmost layer that has it), and a new one as
``root:root 0755``; otherwise ``COPY x /usr/bin/`` would silently change ``/usr``.

Owners: files from the build context become ``root:root`` unless ``--chown=user:group``
(names looked up in the *image's* /etc/passwd and /etc/group, never the host's); files
from another stage (``COPY --from``) keep theirs. ``ADD`` unpacks a local tar archive
(plain or gzip) through the images package's confined extractor; ADD from a URL is
refused (this builder works offline). See overlayfs.rst ("Directories") and
docs.docker.com/reference/dockerfile/#copy.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from pathlib import Path

from ..errors import ImageError, UsageError
from ..images.changes import in_lower


def lower_path(layers_top_first: list[Path], rel: str) -> Path | None:
    """The host path of ``/rel`` as the image shows it (the topmost layer holding it), or None."""
    parts = tuple(p for p in rel.split("/") if p)
    if not parts or not in_lower(layers_top_first, parts):
        return None
    for layer in layers_top_first:
        if in_lower([layer], parts):
            return layer.joinpath(*parts)
    return None


def resolve_owner(layers_top_first: list[Path], spec: str) -> tuple[int, int]:
    """``user[:group]`` (names or numbers) -> (uid, gid), from the image's own passwd/group files."""
    from ..runtime.users import resolve_user
    if not spec:
        return 0, 0
    user, _, group = spec.partition(":")
    if user.isdigit() and (not group or group.isdigit()):
        return int(user), int(group) if group else int(user)
    passwd = lower_path(layers_top_first, "etc/passwd")
    groups = lower_path(layers_top_first, "etc/group")
    uid, gid, _, _ = resolve_user(spec, str(passwd or "/nonexistent/passwd"), str(groups or "/nonexistent/group"))
    return uid, gid


def ensure_dirs(tree: Path, layers_top_first: list[Path], rel: str, owner=None, mode: int = 0o755) -> Path:
    """Create ``tree/rel`` and its parents, each like the image's (see the module docstring).

    ``owner`` and ``mode`` apply to directories the image does not have."""
    path = tree
    parts = [p for p in rel.split("/") if p]
    for i, name in enumerate(parts):
        path = path / name
        if path.is_dir() and not path.is_symlink():
            continue
        lower = lower_path(layers_top_first, "/".join(parts[:i + 1]))
        if lower is not None and not _is_real_dir(lower):
            raise UsageError(f"cannot create directory /{'/'.join(parts[:i + 1])}: the image has a "
                             f"{'symlink' if lower.is_symlink() else 'file'} there", op="build")
        os.mkdir(path)
        if lower is not None:
            st = os.lstat(lower)
            os.chmod(path, stat.S_IMODE(st.st_mode))
            _chown(path, st.st_uid, st.st_gid)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            os.chmod(path, mode)
            _chown(path, *(owner or (0, 0)))
    return path


def _chown(path: Path, uid: int, gid: int) -> None:
    """lchown(2) as root; an unprivileged build keeps the builder's own ids (it cannot give files away)."""
    if os.geteuid() == 0:
        os.lchown(path, uid, gid)


def _is_real_dir(path: Path) -> bool:
    """A directory, not a symlink to one (a link in a layer means something only inside the container)."""
    return stat.S_ISDIR(os.lstat(path).st_mode)


def _copy_one(src: Path, dst: Path, owner, keep_owner: bool, chmod: int | None) -> None:
    st = os.lstat(src)
    if os.path.lexists(dst) and not (stat.S_ISDIR(st.st_mode) and dst.is_dir() and not dst.is_symlink()):
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        else:
            dst.unlink()
    if stat.S_ISDIR(st.st_mode):
        if not dst.exists():
            os.mkdir(dst)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    else:
        raise UsageError("cannot copy a device, fifo or socket", op="COPY", path=src)
    uid, gid = (st.st_uid, st.st_gid) if keep_owner else (owner or (0, 0))
    _chown(dst, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_sources(ctx, sources: list[str], dest: str, tree: Path, layers_top_first: list[Path], *,
                 owner=None, keep_owner: bool = False, chmod: int | None = None, what: str = "COPY") -> None:
    """Docker's COPY rules into the staging ``tree``.

    ``dest`` is absolute. A directory source copies its *contents* into ``dest``; a file
    goes to ``dest`` itself unless ``dest`` ends with ``/`` or is a directory in the
    image, when it goes to ``dest/<name>``. Several sources need a ``dest/`` directory.
    """
    in_image = lower_path(layers_top_first, dest)
    is_dir_dest = dest.endswith("/") or (in_image is not None and _is_real_dir(in_image))
    if len(sources) > 1 and not dest.endswith("/"):
        raise UsageError(f"when using {what} with more than one source file, the destination must be a "
                         f"directory and end with a /", op=what, path=dest)
    for src in sources:
        entries = iter(ctx.entries(src))
        _, top = next(entries)
        if top.is_dir():
            base = ensure_dirs(tree, layers_top_first, dest, owner)
            dirs = []
            for sub, path in entries:
                target = base / sub
                ensure_dirs(tree, layers_top_first, posixpath.dirname(posixpath.join(dest, sub)), owner)
                _copy_one(path, target, owner, keep_owner, chmod)
                if path.is_dir() and not path.is_symlink():
                    dirs.append((path, target))
            for path, target in reversed(dirs):      # directory times last: writing inside changes them
                st = os.lstat(path)
                os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            name = posixpath.basename(src) or top.name
            target_rel = posixpath.join(dest, name) if is_dir_dest else dest
            parent = ensure_dirs(tree, layers_top_first, posixpath.dirname(target_rel.rstrip("/")), owner)
            _copy_one(top, parent / posixpath.basename(target_rel.rstrip("/")), owner, keep_owner, chmod)


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://", "git@", "git://", "ftp://")) or (
        "://" in src and src.split("://", 1)[0].isalpha())


def is_local_tar(path: Path) -> bool:
    """A plain or gzip-compressed tar (what ADD unpacks instead of copying)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b":
        import gzip
        try:
            with gzip.open(path, "rb") as g:
                head = g.read(512)
        except (OSError, EOFError):
            return False
    return len(head) == 512 and head[257:262] == b"ustar"


def add_tar(archive: Path, tree: Path, dest: str, layers_top_first: list[Path], syscalls, owner=None) -> None:
    """ADD a local tar: unpack it into ``dest`` through the images package's confined extractor."""
    from ..images import tarreader
    from ..images.extract import Unpacker, open_layer
    target = ensure_dirs(tree, layers_top_first, dest, owner)
    stream = open_layer(archive)
    try:
        Unpacker(target, syscalls, whiteouts="keep", allow_devices=False).run(tarreader.TarReader(stream))
    except OSError as err:
        raise ImageError(f"cannot unpack: {err.strerror.lower()}", op="ADD", path=archive) from err
    finally:
        stream.close()

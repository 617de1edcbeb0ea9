"""Unpack a layer tar without ever leaving the layer directory.

A layer tar comes from someone else, so every entry is hostile until checked. The
classic escapes are names with ``..`` or a leading ``/``, a symlink followed by an
entry written *through* it (``a -> /etc`` then ``a/passwd``), a hard link to a file
outside, device nodes that open the host's disks, and set-id bits on writable files.
The rule here, in the spirit of openat2(2)'s ``RESOLVE_IN_ROOT``/``RESOLVE_NO_SYMLINKS``:

* names are checked lexically first: absolute names and ``..`` components are refused;
* every parent directory is opened with ``O_NOFOLLOW|O_DIRECTORY`` relative to the one
  above it (``openat``), starting from a descriptor on the layer root, so a symlink in
  the path is an error and never followed; files are created with ``O_CREAT|O_EXCL|
  O_NOFOLLOW`` relative to that descriptor;
* symlinks are stored verbatim (their targets mean something only inside the container,
  where the container's root confines them) and never followed by the store;
* hard links must name an entry already unpacked in this layer (``linkat`` without
  ``AT_SYMLINK_FOLLOW``); device nodes are refused unless allowed; set-id bits are
  dropped from group/world-writable files and for non-root unpacking;
* the caller unpacks into a fresh staging directory and deletes it if anything fails.

OCI whiteouts become overlay whiteouts here (``whiteouts="overlay"``, see
:mod:`.whiteouts`), are applied as deletions (``"apply"``, to flatten layers into one
tree), or kept as plain files (``"keep"``). See also openat(2), linkat(2), mknod(2).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from . import tarreader as T
from . import whiteouts as wh

_DIR_OPEN = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE_MAX = 256


@dataclass
class UnpackStats:
    entries: int = 0
    bytes: int = 0
    whiteouts: int = 0


def clean_name(name: str) -> list[str]:
    """Split a tar name into safe components; refuse absolute names and ``..``."""
    if name.startswith("/"):
        raise ImageError("absolute path in archive", op="unpack", path=name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError("path escapes the layer root (..) in archive", op="unpack", path=name)
    if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
        raise ImageError("file name longer than 255 bytes in archive", op="unpack", path=name[:100])
    return parts


def safe_mode(kind: str, mode: int, same_owner: bool) -> int:
    """Permission bits with the unsafe ones removed (see module docstring)."""
    mode &= 0o7777
    if kind != T.DIR:
        mode &= ~stat.S_ISVTX
    if mode & (stat.S_ISUID | stat.S_ISGID) and (mode & 0o022 or not same_owner or kind != T.REG):
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    return mode


class Unpacker:
    """Unpacks entries from a :class:`~.tarreader.TarReader` into ``dest`` (an existing directory)."""

    def __init__(self, dest: Path, syscalls=None, *, whiteouts: str = "overlay", allow_devices: bool = False,
                 same_owner: bool | None = None) -> None:
        if whiteouts not in ("overlay", "apply", "keep"):
            raise ValueError(whiteouts)
        self.dest = Path(dest)
        self.syscalls = syscalls
        self.whiteouts = whiteouts
        self.allow_devices = allow_devices
        self.same_owner = os.geteuid() == 0 if same_owner is None else same_owner
        self.stats = UnpackStats()
        self._dirs: dict[tuple, int] = {}
        self._dir_meta: dict[tuple, T.Entry] = {}
        self._created: set[tuple] = set()

    # -- confined path walking ------------------------------------------------
    def _dir_fd(self, parts: tuple, create: bool = True) -> int:
        """An O_PATH descriptor on the directory ``parts`` under dest, never following a link."""
        fd = self._dirs.get(parts)
        if fd is not None:
            return fd
        if len(self._dirs) > _FD_CACHE_MAX:
            self._close_cache(keep_root=True)
        parent = self._dir_fd(parts[:-1], create)
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_OPEN, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=parent)     # an implied parent, as Docker creates them
            fd = os.open(name, _DIR_OPEN, dir_fd=parent)
        except (NotADirectoryError, OSError) as err:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            raise ImageError(f"refusing to write through {what} in archive", op="unpack",
                             path="/".join(parts)) from err
        self._dirs[parts] = fd
        return fd

    def _close_cache(self, keep_root: bool) -> None:
        for key, fd in list(self._dirs.items()):
            if key or not keep_root:
                os.close(fd)
                del self._dirs[key]

    def _forget(self, parts: tuple) -> None:
        """Drop cached descriptors at or below ``parts`` (after replacing that path)."""
        n = len(parts)
        for key in [k for k in self._dirs if k[:n] == parts and k]:
            os.close(self._dirs.pop(key))

    def _clear(self, parent: int, name: str, parts: tuple, keep_dir: bool = False) -> bool:
        """Remove what exists at ``name``; returns True if a directory was kept."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            self._forget(parts)
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
        return False

    # -- the entries ------------------------------------------------------------
    def run(self, reader: T.TarReader) -> UnpackStats:
        self.dest.mkdir(mode=0o700, exist_ok=True)
        self._dirs[()] = os.open(self.dest, _DIR_OPEN)
        try:
            for entry in reader:
                parts = tuple(clean_name(entry.name))
                try:
                    self._one(reader, entry, parts)
                except ImageError:
                    raise
                except OSError as err:
                    raise ImageError(f"cannot unpack: {(err.strerror or str(err)).lower()}", op="unpack",
                                     path=entry.name) from err
                self.stats.entries += 1
            self._finish_dirs()
        finally:
            self._close_cache(keep_root=False)
        return self.stats

    def _one(self, reader, entry: T.Entry, parts: tuple) -> None:
        if not parts:                                # ".": the layer root itself, only ever a directory
            if entry.type != T.DIR:
                raise ImageError(f"layer root entry '.' is a {T.KIND_NAMES.get(entry.type, 'special file')}, "
                                 "not a directory", op="unpack", path=entry.name)
            return
        if self.whiteouts != "keep":
            kind, target = wh.oci_entry("/".join(parts))
            if kind != wh.PLAIN:
                self._whiteout(kind, tuple(target.split("/")) if target else ())
                return
        parent = self._dir_fd(parts[:-1])
        name = parts[-1]
        kept_dir = self._clear(parent, name, parts, keep_dir=entry.type == T.DIR)
        self._created.add(parts)
        mode = safe_mode(entry.type, entry.mode, self.same_owner)
        if entry.type == T.DIR:
            if not kept_dir:
                os.mkdir(name, 0o700, dir_fd=parent)
            self._dir_meta[parts] = entry           # mode/owner/mtime applied at the end
        elif entry.type == T.REG:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
            try:
                self.stats.bytes += reader.copy_to(fd)
                if self.same_owner:
                    os.fchown(fd, entry.uid, entry.gid)
                os.fchmod(fd, mode)                  # after chown, which clears set-id bits
                os.utime(fd, (entry.mtime, entry.mtime))
            finally:
                os.close(fd)
        elif entry.type == T.SYM:
            os.symlink(entry.linkname, name, dir_fd=parent)
            self._owner_time_nofollow(parent, name, entry)
        elif entry.type == T.LNK:
            src = tuple(clean_name(entry.linkname))
            if not src or src not in self._created:
                raise ImageError(f"hard link to {entry.linkname!r}, which is not earlier in this layer",
                                 op="unpack", path=entry.name)
            src_parent = self._dir_fd(src[:-1], create=False)
            os.link(src[-1], name, src_dir_fd=src_parent, dst_dir_fd=parent, follow_symlinks=False)
        elif entry.type == T.FIFO:
            os.mkfifo(name, 0o600, dir_fd=parent)
            self._owner_time_nofollow(parent, name, entry)
            os.chmod(name, mode, dir_fd=parent)     # a fifo we just made: not a link
        elif entry.type in (T.CHR, T.BLK):
            if not self.allow_devices:
                raise ImageError("device node in archive (not allowed)", op="unpack", path=entry.name)
            ifmt = stat.S_IFCHR if entry.type == T.CHR else stat.S_IFBLK
            self.syscalls.mknod(str(self.dest.joinpath(*parts)), ifmt | mode, entry.devmajor, entry.devminor,
                                why="a device node the image carries")
            self._owner_time_nofollow(parent, name, entry)

    def _owner_time_nofollow(self, parent: int, name: str, entry: T.Entry) -> None:
        if self.same_owner:
            os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
        os.utime(name, (entry.mtime, entry.mtime), dir_fd=parent, follow_symlinks=False)

    def _whiteout(self, kind: str, target: tuple) -> None:
        self.stats.whiteouts += 1
        if kind == wh.OPAQUE:
            if self.whiteouts == "overlay":
                self._dir_fd(target)                 # make sure it is a real directory, inside
                self.syscalls.setxattr(str(self.dest.joinpath(*target)), wh.OPAQUE_XATTR, b"y",
                                       why="mark the directory opaque: hide lower layers' entries (.wh..wh..opq)")
            else:                                    # apply: drop what lower layers put there
                fd = self._dir_fd(target)
                for child in os.listdir(self.dest.joinpath(*target)):
                    if target + (child,) not in self._created:
                        self._clear(fd, child, target + (child,))
            return
        if not target:
            raise ImageError("whiteout of the layer root in archive", op="unpack")
        parent = self._dir_fd(target[:-1])
        self._clear(parent, target[-1], target)
        if self.whiteouts == "overlay":
            self.syscalls.mknod(str(self.dest.joinpath(*target)), stat.S_IFCHR, 0, 0,
                                why=f"overlay whiteout for deleted {'/'.join(target)} (.wh. entry)")

    def _finish_dirs(self) -> None:
        """Apply directory modes, owners and times last, deepest first (as tar(1) does)."""
        for parts in sorted(self._dir_meta, key=len, reverse=True):
            entry = self._dir_meta[parts]
            try:
                parent = self._dir_fd(parts[:-1], create=False)
                fd = os.open(parts[-1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except (OSError, ImageError):
                continue                             # replaced by a later entry
            try:
                if self.same_owner:
                    os.fchown(fd, entry.uid, entry.gid)
                os.fchmod(fd, safe_mode(T.DIR, entry.mode, self.same_owner) | (0 if self.same_owner else 0o700))
                os.utime(fd, (entry.mtime, entry.mtime))
            finally:
                os.close(fd)


# -- whole files: decompression, digest, cleanup ----------------------------------
class _Counting(io.RawIOBase):
    """A raw file that reports how many bytes were read (for the progress bar)."""

    def __init__(self, f, progress) -> None:
        super().__init__()
        self.f, self.progress = f, progress

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.progress(len(data))
        return data

    def readinto(self, buf) -> int:
        n = self.f.readinto(buf)
        self.progress(n or 0)
        return n

    def readable(self) -> bool:
        return True

    def seek(self, *a):
        return self.f.seek(*a)

    def close(self) -> None:
        self.f.close()
        super().close()


class _Stream:
    """Reads a file, gunzipping if it starts with the gzip magic; decoder errors -> ImageError."""

    def __init__(self, path, progress=None) -> None:
        self.path = path
        self.raw = open(path, "rb", buffering=0)
        if progress is not None:
            self.raw = _Counting(self.raw, progress)
        magic = self.raw.read(4)
        self.raw.seek(0)
        if magic[:4] == b"\x28\xb5\x2f\xfd":
            self.raw.close()
            raise ImageError("zstd-compressed layers are not supported (gzip or plain tar only)", op="unpack",
                             path=path)
        self.gzipped = magic[:2] == b"\x1f\x8b"
        if self.gzipped:
            import gzip
            self.f = io.BufferedReader(gzip.GzipFile(fileobj=self.raw, mode="rb"), 1 << 20)
        else:
            self.f = io.BufferedReader(self.raw, 1 << 16)

    def read(self, n: int = -1) -> bytes:
        import zlib
        try:
            return self.f.read(n)
        except EOFError as err:
            raise ImageError("truncated gzip stream", op="unpack", path=self.path) from err
        except (OSError, zlib.error) as err:   # gzip.BadGzipFile is an OSError
            raise ImageError(f"corrupt gzip stream: {err}", op="unpack", path=self.path) from err

    def close(self) -> None:
        self.f.close()
        self.raw.close()


def open_layer(path, progress=None) -> _Stream:
    try:
        return _Stream(path, progress)
    except OSError as err:
        raise ImageError(f"cannot open: {err.strerror.lower()}", op="unpack", path=path) from err


def unpack_file(path, dest: Path, syscalls=None, *, expect_digest: str | None = None, tee=None,
                progress=None, **options):
    """Unpack the (maybe gzipped) layer tar ``path`` into the new directory ``dest``.

    Returns ``(diff_id, stats)``: the digest of the uncompressed tar. If ``expect_digest``
    is given and differs, or anything fails, ``dest`` is removed and ImageError raised.
    ``tee`` (a binary file object) receives the uncompressed tar as it is read.
    """
    from .digest import HashingReader
    from .store import remove_tree
    if os.path.lexists(dest):
        raise ImageError("unpack target already exists", op="unpack", path=dest)
    stream = open_layer(path, progress)
    hasher = None
    try:
        if stream.gzipped or tee is not None or progress is not None:
            hashed = HashingReader(stream, tee)
            stats = Unpacker(Path(dest), syscalls, **options).run(T.TarReader(hashed))
            hashed.drain()
            digest = hashed.digest
        else:
            # A plain tar on disk: hash it on another core while the kernel copies file
            # data (hashlib releases the GIL), so verifying costs almost no extra time.
            hasher = _Hasher(path)
            stats = Unpacker(Path(dest), syscalls, **options).run(
                T.TarReader(stream.f, src_fd=stream.raw.fileno()))
            digest = hasher.result()
        if expect_digest is not None and digest != expect_digest:
            raise ImageError(f"digest mismatch: expected {expect_digest}, got {digest}", op="verify", path=path)
        return digest, stats
    except BaseException:
        if hasher is not None:
            hasher.cancel()
        remove_tree(dest)
        raise
    finally:
        stream.close()


class _Hasher:
    """sha256 of a file computed in a background thread."""

    def __init__(self, path) -> None:
        import threading
        self.path, self.digest, self.error, self._stop = path, None, None, False
        self.thread = threading.Thread(target=self._run, name="layer-sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import hashlib
        h = hashlib.sha256()
        buf = bytearray(1 << 22)
        view = memoryview(buf)
        try:
            with open(self.path, "rb", buffering=0) as f:
                while not self._stop:
                    n = f.readinto(buf)
                    if not n:
                        break
                    h.update(view[:n])
            self.digest = "sha256:" + h.hexdigest()
        except OSError as err:
            self.error = err

    def cancel(self) -> None:
        self._stop = True
        self.thread.join()

    def result(self) -> str:
        self.thread.join()
        if self.error is not None:
            raise ImageError(f"cannot read: {self.error.strerror.lower()}", op="verify", path=self.path)
        return self.digest

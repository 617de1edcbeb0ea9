"""The cpio "newc" archive format, written and read in pure Python.

An initramfs is how Linux gets its first root filesystem without any disk driver: the
boot loader (here QEMU's ``-initrd``) puts an archive in memory, and the kernel unpacks
it into a ``rootfs`` (a tmpfs) before running ``/init`` from it. The archive format is
the old Unix ``cpio`` in its "new ASCII" (``newc``) variant, see
https://docs.kernel.org/driver-api/early-userspace/buffer-format.html and cpio(5).

Each entry is a 110-byte header of thirteen 8-digit hexadecimal fields after the magic
``070701``, then the NUL-terminated file name, padding to a multiple of 4 bytes, the
file data, and padding again. A final entry named ``TRAILER!!!`` ends the archive. A
symbolic link stores its target as its data. Nothing else is needed, so we write the
format here rather than depending on an external ``cpio`` binary.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
           "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check")
HEADER_LEN = 6 + 8 * len(_FIELDS)  # 110


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


@dataclass
class Entry:
    """One archive member as read back: name, mode (type + permissions) and data."""

    name: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    mtime: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)


class CpioWriter:
    """Collects entries and renders them as one newc archive.

    Names are stored without a leading slash (as the kernel expects). Parent directories
    must be added before their children: the kernel creates entries in archive order.
    """

    def __init__(self, mtime: int = 0) -> None:
        self._chunks: list[bytes] = []
        self._ino = 1
        self._names: set[str] = set()
        self.mtime = mtime  # a fixed mtime makes the archive reproducible

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1) -> None:
        name = name.lstrip("/")
        if not name or name in self._names:
            raise ValueError(f"cpio entry name empty or duplicated: {name!r}")
        self._names.add(name)
        encoded = name.encode() + b"\0"
        values = (self._ino, mode, 0, 0, nlink, self.mtime, len(data), 0, 0, 0, 0, len(encoded), 0)
        self._ino += 1
        header = MAGIC + b"".join(b"%08X" % v for v in values)
        self._chunks += [header, encoded, b"\0" * _pad4(HEADER_LEN + len(encoded)),
                         data, b"\0" * _pad4(len(data))]

    def add_dir(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def add_file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def has(self, name: str) -> bool:
        return name.lstrip("/") in self._names

    def getvalue(self) -> bytes:
        self._entry(TRAILER, 0, b"")
        self._names.discard(TRAILER)
        data = b"".join(self._chunks)
        self._chunks = self._chunks[:-5]  # allow more entries after rendering
        return data


def read_archive(data: bytes) -> list[Entry]:
    """Parse a newc archive back into entries (tests use it to check what we wrote).

    Bounds are checked on every field so a truncated or hostile archive raises
    ``ValueError`` instead of reading past the end.
    """
    entries: list[Entry] = []
    pos = 0
    while True:
        if pos + HEADER_LEN > len(data):
            raise ValueError(f"truncated cpio header at offset {pos}")
        if data[pos:pos + 6] != MAGIC:
            raise ValueError(f"bad cpio magic at offset {pos}: {data[pos:pos + 6]!r}")
        raw = data[pos + 6:pos + HEADER_LEN]
        fields = dict(zip(_FIELDS, (int(raw[i:i + 8], 16) for i in range(0, len(raw), 8))))
        name_start = pos + HEADER_LEN
        name_end = name_start + fields["namesize"]
        if fields["namesize"] < 1 or name_end > len(data):
            raise ValueError(f"bad cpio name size at offset {pos}")
        name = data[name_start:name_end - 1].decode()
        data_start = name_end + _pad4(HEADER_LEN + fields["namesize"])
        data_end = data_start + fields["filesize"]
        if data_end > len(data):
            raise ValueError(f"cpio entry {name!r} runs past the end of the archive")
        if name == TRAILER:
            return entries
        entries.append(Entry(name=name, mode=fields["mode"], data=data[data_start:data_end],
                             uid=fields["uid"], gid=fields["gid"], mtime=fields["mtime"]))
        pos = data_end + _pad4(fields["filesize"])

"""A bounded tar reader: headers parsed by hand, every size checked before it is used.

A tar archive is a sequence of 512-byte headers, each followed by the entry's data
rounded up to 512 bytes, and ends with zero blocks (tar(5)). Extensions carry what the
old header cannot: a pax ``x`` header holds ``length key=value`` records (long names,
big sizes) for the next entry; GNU uses ``L``/``K`` pseudo-entries for long names and
link targets. Python's ``tarfile`` trusts these fields more than an image importer can
afford to (a negative size made its iteration loop forever, CVE-2025-8194), so this
reader refuses: bad checksums, negative or oversized sizes, oversized or malformed
metadata records, sparse entries, unknown types, and data that ends early ("truncated").
It yields :class:`Entry` objects; the caller reads an entry's data through
:meth:`TarReader.copy_to` or leaves it, and the reader skips what was not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ImageError

BLOCK = 512
MAX_META = 1 << 20          # pax records / GNU long names: at most 1 MiB
MAX_NAME = 4096             # PATH_MAX
CHUNK = 1 << 20

REG, LNK, SYM, CHR, BLK, DIR, FIFO = "0", "1", "2", "3", "4", "5", "6"
_KNOWN = {REG, LNK, SYM, CHR, BLK, DIR, FIFO}
KIND_NAMES = {REG: "regular file", LNK: "hard link", SYM: "symlink", CHR: "character device",
              BLK: "block device", DIR: "directory", FIFO: "fifo"}


@dataclass
class Entry:
    name: str
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict = field(default_factory=dict)


def _num(field_bytes: bytes, what: str) -> int:
    """An octal (or GNU base-256) number field; negative numbers are refused."""
    if field_bytes and field_bytes[0] & 0x80:
        if field_bytes[0] == 0xFF:
            raise ImageError(f"negative {what} in tar header", op="read tar")
        return int.from_bytes(bytes([field_bytes[0] & 0x7F]) + field_bytes[1:], "big")
    text = field_bytes.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if text.translate(None, b"01234567"):
        raise ImageError(f"malformed {what} in tar header: {text[:20]!r}", op="read tar")
    return int(text, 8)


def _text(raw: bytes) -> str:
    return os.fsdecode(raw.split(b"\0", 1)[0])


def parse_pax(data: bytes) -> dict[str, str]:
    """Parse pax extended-header records (``"%d %s=%s\\n"``), strictly."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if not data[pos:].strip(b"\0"):
            break
        space = data.find(b" ", pos, pos + 20)
        if space < 0:
            raise ImageError("malformed pax header record", op="read tar")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ImageError("malformed pax header record length", op="read tar") from None
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise ImageError("malformed pax header record", op="read tar")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise ImageError("malformed pax header record (no '=')", op="read tar")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos = end
    return out


class TarReader:
    """Iterate the entries of a tar stream (any object with ``read``)."""

    def __init__(self, stream, *, max_entry_size: int = 1 << 36, max_total: int = 1 << 38,
                 max_entries: int = 2_000_000, src_fd: int | None = None) -> None:
        self.f = stream
        # with a seekable, uncompressed file: copy data in the kernel (copy_file_range(2))
        self.src_fd = src_fd
        self.max_entry_size = max_entry_size
        self.max_total = max_total
        self.max_entries = max_entries
        self._left = 0        # unread data bytes of the current entry
        self._pad = 0         # padding after it
        self.total = 0        # data bytes seen so far

    def _read(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            chunk = self.f.read(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def _exact(self, n: int, what: str) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise ImageError(f"truncated archive (ends inside {what})", op="read tar")
        return data

    def _skip_rest(self) -> None:
        todo = self._left + self._pad
        while todo:
            chunk = self._read(min(todo, CHUNK))
            if not chunk:
                if todo <= self._pad:
                    # the last entry's data is whole and only its padding is missing: the stream's end
                    # (the docker CLI sends build contexts so when it adds a Dockerfile from outside)
                    break
                raise ImageError("truncated archive (ends inside an entry's data)", op="read tar")
            todo -= len(chunk)
        self._left = self._pad = 0

    def _meta(self, size: int, what: str) -> bytes:
        if size > MAX_META:
            raise ImageError(f"{what} of {size} bytes is over the {MAX_META}-byte limit", op="read tar")
        data = self._exact(size, what)
        self._exact(-size % BLOCK, what)
        return data

    def __iter__(self):
        pax: dict[str, str] = {}
        longname = longlink = None
        count = 0
        while True:
            self._skip_rest()
            header = self._read(BLOCK)
            if not header:
                if pax or longname is not None or longlink is not None:
                    raise ImageError("truncated archive (metadata without an entry)", op="read tar")
                return                       # end without the zero blocks: accepted, as GNU tar does
            if len(header) != BLOCK:
                raise ImageError("truncated archive (ends inside a header)", op="read tar")
            if header == bytes(BLOCK):
                return
            self._check_sum(header)
            typeflag = chr(header[156]) if header[156] else REG
            size = _num(header[124:136], "size")
            if typeflag in ("x", "g"):
                records = parse_pax(self._meta(size, "pax header"))
                if typeflag == "x":
                    pax.update(records)
                continue
            if typeflag in ("L", "K"):
                value = _text(self._meta(size, "gnu long name"))
                if typeflag == "L":
                    longname = value
                else:
                    longlink = value
                continue
            if typeflag == "7":
                typeflag = REG
            if typeflag not in _KNOWN:
                kind = "sparse file" if typeflag == "S" else f"entry type {typeflag!r}"
                raise ImageError(f"unsupported {kind} in archive", op="read tar", path=_text(header[0:100]))
            if any(k.startswith("GNU.sparse") for k in pax):
                raise ImageError("unsupported sparse file in archive", op="read tar")
            entry = self._entry(header, typeflag, size, pax, longname, longlink)
            pax, longname, longlink = {}, None, None
            count += 1
            if count > self.max_entries:
                raise ImageError(f"more than {self.max_entries} entries in archive", op="read tar")
            if entry.type != REG:      # header-only types: any size field is ignored (as GNU and Go tar do)
                entry.size = 0
            if entry.size > self.max_entry_size:
                raise ImageError(f"entry of {entry.size} bytes is over the {self.max_entry_size}-byte limit",
                                 op="read tar", path=entry.name)
            self.total += entry.size
            if self.total > self.max_total:
                raise ImageError(f"archive holds more than {self.max_total} bytes", op="read tar")
            self._left = entry.size
            self._pad = -self._left % BLOCK
            yield entry

    @staticmethod
    def _check_sum(header: bytes) -> None:
        stored = _num(header[148:156], "checksum")
        blanked = header[:148] + b" " * 8 + header[156:]
        unsigned = sum(blanked)
        if stored == unsigned:
            return
        signed = unsigned - 256 * (BLOCK - len(blanked.translate(None, bytes(range(128, 256)))))
        if stored != signed:                       # some old tars summed signed chars
            raise ImageError("bad tar header checksum (corrupt or not a tar archive)", op="read tar")

    def _entry(self, h: bytes, typeflag: str, size: int, pax: dict, longname, longlink) -> Entry:
        name = _text(h[0:100])
        if h[257:263] == b"ustar\0":            # POSIX ustar: a prefix field holds the leading part
            prefix = _text(h[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        name = pax.get("path", longname if longname is not None else name)
        linkname = pax.get("linkpath", longlink if longlink is not None else _text(h[157:257]))
        if len(name) > MAX_NAME or len(linkname) > MAX_NAME:
            raise ImageError("name longer than PATH_MAX in archive", op="read tar", path=name[:100])
        if not name or "\0" in name or "\0" in linkname:     # a pax path= record can carry a NUL
            raise ImageError("empty name or NUL byte in an entry name or link target", op="read tar",
                             path=repr(name[:100]))
        try:
            size = int(pax["size"]) if "size" in pax else size
            uid = int(pax["uid"]) if "uid" in pax else _num(h[108:116], "uid")
            gid = int(pax["gid"]) if "gid" in pax else _num(h[116:124], "gid")
            mtime = int(float(pax["mtime"])) if "mtime" in pax else _num(h[136:148], "mtime")
        except ValueError:
            raise ImageError("malformed number in pax header", op="read tar", path=name) from None
        if size < 0 or uid < 0 or gid < 0:
            raise ImageError("negative size or id in archive", op="read tar", path=name)
        xattrs = {k[len("SCHILY.xattr."):]: v for k, v in pax.items() if k.startswith("SCHILY.xattr.")}
        return Entry(name=name, type=typeflag, mode=_num(h[100:108], "mode"), uid=uid, gid=gid, size=size,
                     mtime=mtime, linkname=linkname, devmajor=_num(h[329:337], "devmajor"),
                     devminor=_num(h[337:345], "devminor"), xattrs=xattrs)

    def copy_to(self, fd: int) -> int:
        """Write the current entry's data to ``fd``; returns bytes written."""
        if self.src_fd is not None and self._left:
            return self._copy_in_kernel(fd)
        done = 0
        while self._left:
            chunk = self.f.read(min(self._left, CHUNK))
            if not chunk:
                raise ImageError("truncated archive (ends inside an entry's data)", op="read tar")
            view = memoryview(chunk)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            self._left -= len(chunk)
            done += len(chunk)
        return done

    def _copy_in_kernel(self, fd: int) -> int:
        """copy_file_range(2) from the archive at its current offset: no bytes pass through Python."""
        pos = self.f.tell()
        done = 0
        while done < self._left:
            try:
                n = os.copy_file_range(self.src_fd, fd, self._left - done, pos + done)
            except OSError:                      # not supported here: fall back to read/write
                self.src_fd = None
                self.f.seek(pos + done)
                self._left -= done
                return done + self.copy_to(fd)
            if n == 0:
                raise ImageError("truncated archive (ends inside an entry's data)", op="read tar")
            done += n
        self.f.seek(pos + done)
        self._left = 0
        return done

    def read_data(self, limit: int = MAX_META) -> bytes:
        """The current entry's data as bytes (for small JSON members)."""
        if self._left > limit:
            raise ImageError(f"member of {self._left} bytes is over the {limit}-byte limit", op="read tar")
        data = self._exact(self._left, "an entry's data")
        self._left = 0
        return data

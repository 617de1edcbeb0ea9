"""Content addresses: a blob's name is the sha256 of its bytes.

A content-addressed store names every blob (layer tar, image config, manifest) by the
digest of its content, written ``sha256:<64 hex digits>`` as in the OCI image spec
(https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests). Two
consequences make images work: the same bytes are stored once however many images
use them, and a reader can check that what it got is what was asked for (a digest
mismatch means corruption or tampering, never "close enough").

An image's ID is the digest of its config JSON; the config lists its layers by the
digest of their *uncompressed* tar (the ``diff_ids``), so the ID pins every file.
"""

from __future__ import annotations

import re

from ..errors import ImageError


def _sha256(data: bytes = b""):
    """hashlib, imported on first use: loading OpenSSL costs ~4 ms, and resolving an image
    (on every container start) never hashes anything."""
    import hashlib
    return hashlib.sha256(data)

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + _sha256(data).hexdigest()


def check_digest(digest: str, *, op: str = "digest") -> str:
    """Validate ``sha256:<64 lower-case hex>`` and return its hex part (safe as a file name)."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ImageError(f"invalid digest {digest!r} (want sha256:<64 hex digits>)", op=op)
    return digest.split(":", 1)[1]


class HashingWriter:
    """A file-like writer that hashes and counts what passes through it."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.hash = _sha256()
        self.size = 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


class HashingReader:
    """A file-like reader that hashes what is read through it (used while unpacking)."""

    def __init__(self, raw, tee=None) -> None:
        self.raw = raw
        self.tee = tee            # optional file object that gets a copy of every byte read
        self.hash = _sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.size += len(data)
        if self.tee is not None and data:
            self.tee.write(data)
        return data

    def drain(self) -> None:
        """Read to the end, so the digest covers trailing padding too."""
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def sha256_file(path, *, progress=None) -> tuple[str, int]:
    """(digest, size) of a file, read in 1 MiB chunks."""
    return file_digest(path, "sha256", progress=progress)


def file_digest(path, algorithm: str, *, progress=None) -> tuple[str, int]:
    """(``algorithm:hex``, size) of a file for a hashlib algorithm (sha256, sha512)."""
    import hashlib
    h = hashlib.new(algorithm)
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
    return f"{algorithm}:{h.hexdigest()}", size

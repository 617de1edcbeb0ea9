"""Blobs over the wire: verified downloads, compression, and resumable uploads.

Download (distribution spec, "Pulling blobs"): ``GET /v2/<name>/blobs/<digest>``,
streamed to a new file while its sha256 and byte count run; the file is kept only if
both match the descriptor - more bytes than announced stop the transfer at once, fewer
(a connection cut mid-way) are a *truncated download*. The caller renames a verified
file into the store; a failed one is deleted here.

Layers travel compressed. The store keeps them uncompressed (their digest is the
``diff_id``), so a pulled layer is decompressed - gzip by the standard library, zstd
(``...tar+zstd``) by the ``zstandard`` package - and a pushed one gzipped with a fixed
header (no file name, mtime 0), so the same layer pushed twice has the same digest.

Upload ("Pushing blobs"): ``HEAD`` first (the registry may have it already); else
``POST /v2/<name>/blobs/uploads/`` opens a session (``?mount=<digest>&from=<repo>``
asks to *mount* the blob from another repository of the same registry instead: ``201``
means done without sending a byte), ``PATCH`` sends chunks with ``Content-Range``, and
``PUT <location>?digest=<digest>`` closes it. If a ``PATCH`` breaks, ``GET <location>``
answers ``204`` with ``Range: 0-<last byte received>`` and the upload resumes there.
(Debian's registry 2.8 does not honour the single-request ``POST ?digest=`` upload.)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ImageError
from ..images import spec
from ..images.digest import CHUNK, _sha256
from .transport import TransportError

UPLOAD_CHUNK = 8 << 20
RESUME_ATTEMPTS = 3


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def download(session, repository: str, desc: dict, dest: Path, *, scope: str, progress=None) -> None:
    """Fetch the blob ``desc`` names into the new file ``dest``, verifying size and digest."""
    digest, size = desc["digest"], desc["size"]
    where = f"{session.domain}/{repository}@{digest}"
    response = session.send("GET", f"/v2/{repository}/blobs/{digest}", scope=scope, stream=True, blob=True)
    h, got = _sha256(), 0
    try:
        with open(dest, "xb") as f:
            try:
                for chunk in response.iter_bytes(CHUNK):
                    got += len(chunk)
                    if got > size:
                        raise ImageError(f"blob is longer than its descriptor's {size} bytes", op="verify", path=where)
                    h.update(chunk)
                    f.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
            except session.http_errors as err:
                raise ImageError(f"truncated download: connection broke after {got} of {size} bytes ({err})",
                                 op="pull", path=where) from err
        if got != size:
            raise ImageError(f"truncated download: got {got} of {size} bytes", op="pull", path=where)
        if "sha256:" + h.hexdigest() != digest:
            raise ImageError(f"blob digest mismatch: expected {digest}, got sha256:{h.hexdigest()}",
                             op="verify", path=where)
    except BaseException:
        _remove(dest)
        raise
    finally:
        response.close()


def fetch_small(session, repository: str, desc: dict, stage: Path, *, scope: str) -> bytes:
    """A config blob (at most spec.MAX_DOCUMENT_SIZE), verified, as bytes."""
    spec.check_size(desc["size"], f"{session.domain}/{repository}", limit=spec.MAX_DOCUMENT_SIZE, slot="config",
                    op="pull")
    download(session, repository, desc, stage, scope=scope)
    try:
        return stage.read_bytes()
    finally:
        _remove(stage)


def decompress(src: Path, media_type: str, dest: Path) -> Path:
    """A layer blob as something the unpacker reads: gzip and plain tar as they are (it
    gunzips itself), zstd decompressed into ``dest``. Returns the path to unpack."""
    if not media_type.endswith("+zstd"):
        return src
    try:
        import zstandard
    except ImportError as err:
        raise ImageError("zstd layer: the zstandard package is not installed", op="pull") from err
    try:
        with open(src, "rb") as fin, open(dest, "xb") as fout:
            zstandard.ZstdDecompressor().copy_stream(fin, fout, read_size=CHUNK, write_size=CHUNK)
    except (zstandard.ZstdError, OSError) as err:
        _remove(dest)
        raise ImageError(f"corrupt zstd layer: {err}", op="pull", path=src) from err
    return dest


def gzip_layer(src: Path, dest: Path, *, progress=None) -> tuple[str, int]:
    """Gzip the uncompressed layer ``src`` into ``dest`` reproducibly; ``(digest, size)``."""
    import gzip

    class _Hashing:
        def __init__(self, raw):
            self.raw, self.h, self.n = raw, _sha256(), 0

        def write(self, b):
            self.h.update(b)
            self.n += len(b)
            return self.raw.write(b)

        def flush(self):
            self.raw.flush()

    try:
        with open(src, "rb") as fin, open(dest, "xb") as fout:
            out = _Hashing(fout)
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
                while chunk := fin.read(CHUNK):
                    gz.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
    except OSError as err:
        _remove(dest)
        raise ImageError(f"cannot compress layer: {err.strerror.lower() if err.strerror else err}", op="push",
                         path=src) from err
    return "sha256:" + out.h.hexdigest(), out.n


def exists(session, repository: str, digest: str, *, scope: str) -> bool:
    """``HEAD /v2/<name>/blobs/<digest>``: does the registry have this blob?"""
    r = session.send("HEAD", f"/v2/{repository}/blobs/{digest}", scope=scope, expect=(200, 404), blob=True)
    return r.status_code == 200


def mount(session, repository: str, digest: str, source: str, *, scope: str) -> bool:
    """Ask the registry to link ``digest`` from repository ``source``; True when it did (201).
    A registry that cannot answers 202 with an upload session, which we cancel."""
    r = session.send("POST", f"/v2/{repository}/blobs/uploads/", params={"mount": digest, "from": source},
                     scope=scope, expect=(201, 202))
    if r.status_code == 201:
        return True
    if "location" in r.headers:
        session.send("DELETE", r.headers["location"], scope=scope, expect=(204, 404))
    return False


def upload(session, repository: str, path: Path, digest: str, size: int, *, scope: str, progress=None,
           chunk: int = UPLOAD_CHUNK) -> None:
    """POST, PATCH chunks (resuming after a break), PUT ?digest= - the chunked upload."""
    r = session.send("POST", f"/v2/{repository}/blobs/uploads/", scope=scope, expect=(202,))
    location = _location(r)
    offset, attempts = 0, 0
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            data = f.read(chunk)
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Range": f"{offset}-{offset + len(data) - 1}"}
            try:
                r = session.send("PATCH", location, content=data, headers=headers, scope=scope, expect=(202,))
            except TransportError:
                attempts += 1
                if attempts > RESUME_ATTEMPTS:
                    raise
                offset, location = _resume_point(session, location, scope)
                continue
            location = _location(r, location)
            offset += len(data)
            if progress is not None:
                progress(len(data))
    session.send("PUT", location, params={"digest": digest}, scope=scope, expect=(201,))


def _location(response, default: str | None = None) -> str:
    location = response.headers.get("location") or default
    if not location:
        raise ImageError("registry opened an upload without a Location", op="push")
    return location


def _resume_point(session, location: str, scope: str) -> tuple[int, str]:
    """Where a broken upload stands: ``GET <location>`` -> 204, ``Range: 0-<end>``."""
    r = session.send("GET", location, scope=scope, expect=(204,))
    rng = r.headers.get("range", "")
    try:
        end = int(rng.rsplit("-", 1)[1])
    except (IndexError, ValueError) as err:
        if not rng:
            return 0, _location(r, location)
        raise ImageError(f"registry answered a malformed upload Range {rng!r}", op="push") from err
    return end + 1, _location(r, location)

"""Manifests over the wire: content negotiation, verification, platform choice.

``GET /v2/<name>/manifests/<reference>`` (distribution spec, "Pulling manifests") returns
whichever document the registry holds for the tag, in one of the media types the client
listed in ``Accept``: an OCI image index or Docker manifest list (one entry per platform),
or an OCI image manifest or Docker schema 2 manifest (one config, the layers). A registry
answers ``404 MANIFEST_UNKNOWN`` rather than send a type the client did not ask for, so the
``Accept`` list names all four.

The answer is checked before it is believed:

* at most 4 MiB (containerd's limit; a manifest is a few KiB), read with a running count
  so a lying ``Content-Length`` cannot make us buffer more;
* its sha256 must equal the digest asked for (a pull by digest) and the registry's
  ``Docker-Content-Digest`` header, and its size the descriptor's when an index named it;
* its media type must be one of the four, and the document must pass :mod:`..images.spec`.

From an index the entry for this machine is chosen: ``os`` linux and the architecture
``uname -m`` maps to (x86_64 -> amd64, aarch64 -> arm64, ...; image-index.md "platform").
"""

from __future__ import annotations

import json
import os

from ..errors import ImageError, NotFoundError
from ..images import spec
from ..images.digest import sha256_bytes

ACCEPT = ", ".join([spec.OCI_INDEX, spec.OCI_MANIFEST, spec.DOCKER_LIST, spec.DOCKER_MANIFEST])
MAX_MANIFEST = spec.MAX_DOCUMENT_SIZE
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def platform() -> tuple[str, str, str | None]:
    """``(os, architecture, variant)`` of this machine in OCI's names."""
    machine = os.uname().machine
    arch = _ARCH.get(machine, machine)
    variant = "v8" if arch == "arm64" else ("v7" if machine == "armv7l" else None)
    return "linux", arch, variant


def read_capped(response, where: str, limit: int = MAX_MANIFEST) -> bytes:
    """The body of a streaming response, refused once it passes ``limit`` bytes."""
    try:
        declared = int(response.headers.get("content-length", "0"))
        if declared > limit:
            raise ImageError(f"manifest of {declared} bytes is over the {limit}-byte limit", op="pull", path=where)
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limit:
                raise ImageError(f"manifest is over the {limit}-byte limit", op="pull", path=where)
            chunks.append(chunk)
        return b"".join(chunks)
    except ValueError as err:
        raise ImageError("malformed Content-Length", op="pull", path=where) from err
    finally:
        response.close()


def verify(body: bytes, media_type: str, where: str, *, digest: str | None = None, header_digest: str | None = None,
           size: int | None = None) -> tuple[dict, str, str]:
    """Check a fetched manifest or index; returns ``(document, kind, digest)``."""
    got = sha256_bytes(body)
    if size is not None and len(body) != size:
        raise ImageError(f"manifest is {len(body)} bytes, its descriptor says {size}", op="verify", path=where)
    if digest is not None and got != digest:
        raise ImageError(f"manifest digest mismatch: asked for {digest}, got {got}", op="verify", path=where)
    if header_digest and header_digest.startswith("sha256:") and header_digest != got:
        raise ImageError(f"manifest digest mismatch: registry says {header_digest}, content is {got}",
                         op="verify", path=where)
    media_type = (media_type or "").split(";", 1)[0].strip()
    if media_type not in spec.MANIFEST_TYPES | spec.INDEX_TYPES:
        raise ImageError(f"unknown manifest media type {media_type or 'none'!r}", op="verify", path=where)
    try:
        doc = json.loads(body)
    except ValueError as err:
        raise ImageError(f"manifest is not JSON: {err}", op="verify", path=where) from err
    if media_type in spec.INDEX_TYPES:
        spec.check_index(doc, where, media_type=media_type, op="verify")
        return doc, "index", got
    spec.check_manifest(doc, where, media_type=media_type, op="verify")
    return doc, "manifest", got


def choose(index: dict, where: str, want: tuple[str, str, str | None] | None = None) -> dict:
    """The descriptor for this platform (``want``: ``(os, arch, variant)``) in a checked index."""
    os_name, arch, variant = want or platform()
    candidates = [d for d in index["manifests"]
                  if (d.get("platform") or {}).get("os") == os_name
                  and (d.get("platform") or {}).get("architecture") == arch]
    if variant:
        exact = [d for d in candidates if d["platform"].get("variant") in (variant, None)]
        candidates = exact or candidates
    if not candidates:
        have = sorted({f"{(d.get('platform') or {}).get('os', '?')}/{(d.get('platform') or {}).get('architecture', '?')}"
                       for d in index["manifests"]})
        raise NotFoundError(f"no manifest for {os_name}/{arch} in the index (it has {', '.join(have) or 'none'})",
                            op="pull", path=where)
    return candidates[0]

"""Image references: ``[registry/]repository[:tag][@digest]``, as Docker spells them.

A reference is a human name for an image. ``busybox`` means ``busybox:latest``; a tag
follows the last ``:`` that comes after the last ``/`` (so ``localhost:5000/app`` has no
tag). Tags are just pointers kept in the store's index: re-tagging moves the pointer,
the image itself never changes. See docker-tag(1).

For a registry the name is *qualified* the way Docker's ``distribution/reference``
normalises it: the first path component is a registry host when it contains a ``.`` or a
``:`` or is ``localhost`` (``127.0.0.1:5000/x/y``); otherwise the name lives on the default
registry, and a one-component name there gets the ``library/`` prefix of official images
(``busybox`` -> ``docker.io/library/busybox:latest``). ``@sha256:...`` pins the exact
manifest, whatever tags later point at. :func:`split_ref` (local names) is on the
container start path; :func:`parse` serves pull and push.
"""

from __future__ import annotations

import re

from ..errors import UsageError

DEFAULT_TAG = "latest"
DOCKER_HUB = "docker.io"
_NAME = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+|/[a-z0-9]+|:[0-9]+/[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# distribution/reference: path components, and a domain of dotted labels with an optional port.
# Compiled on first use: split_ref is on the container start path, parse (pull, push) is not.
_REGISTRY_PATTERNS = {
    "component": r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$",
    "domain": r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
              r"(?::[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](?::[0-9]{1,5})?$",
    "digest": r"^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$",
}
_compiled: dict = {}


def _match(kind: str, text: str):
    pattern = _compiled.get(kind)
    if pattern is None:
        pattern = _compiled[kind] = re.compile(_REGISTRY_PATTERNS[kind])
    return pattern.match(text)


def split_ref(ref: str) -> tuple[str, str]:
    """``"busybox"`` -> ``("busybox", "latest")``; raises UsageError on a malformed reference."""
    if not isinstance(ref, str) or not ref or len(ref) > 255:
        raise UsageError(f"invalid reference format: {ref!r}", op="reference")
    name, tag = ref, DEFAULT_TAG
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1:]
    if "@" in ref or not _NAME.match(name) or not _TAG.match(tag):
        raise UsageError(f"invalid reference format: {ref!r} (want name[:tag], lower-case name)",
                         op="reference")
    return name, tag


def normalize(ref: str) -> str:
    """``"busybox"`` -> ``"busybox:latest"``."""
    name, tag = split_ref(ref)
    return f"{name}:{tag}"


class Reference:
    """A fully qualified reference: ``domain`` (registry host[:port]), ``repository``
    (``library/busybox``), ``tag`` (``latest`` unless only a digest was given) and ``digest``.
    (A plain class, not a dataclass: this module is imported on the container start path.)"""

    __slots__ = ("domain", "repository", "tag", "digest", "default_domain")

    def __init__(self, domain: str, repository: str, tag: str | None, digest: str | None,
                 default_domain: str = DOCKER_HUB) -> None:
        self.domain, self.repository, self.tag, self.digest = domain, repository, tag, digest
        self.default_domain = default_domain

    def __eq__(self, other) -> bool:
        return isinstance(other, Reference) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, k) for k in self.__slots__))

    def __repr__(self) -> str:
        return f"Reference({str(self)!r}, default={self.default_domain!r})"

    @property
    def manifest_ref(self) -> str:
        """What goes in ``/v2/<repository>/manifests/<ref>``: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it: the default registry and ``library/`` left out."""
        if self.domain != self.default_domain:
            return f"{self.domain}/{self.repository}"
        return self.repository[8:] if self.repository.startswith("library/") else self.repository

    @property
    def local_tag(self) -> str | None:
        """The tag this image gets in the local store (``busybox:latest``), None for a digest-only pull."""
        return f"{self.familiar_name}:{self.tag}" if self.tag else None

    def __str__(self) -> str:
        out = f"{self.domain}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        return out + (f"@{self.digest}" if self.digest else "")


def _bad(ref, why: str):
    raise UsageError(f"invalid reference format: {str(ref)[:300]!r} ({why})", op="reference")


def parse(ref: str, default_domain: str = DOCKER_HUB) -> Reference:
    """``[domain/]path[:tag][@digest]`` -> :class:`Reference`; one-line UsageError otherwise.

    ``default_domain`` is where a name without a registry lives (docker.io, or the lab
    registry when it is configured as the default)."""
    if not isinstance(ref, str) or not ref or len(ref) > 255 + 72:
        _bad(ref, "empty or too long")
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
        if not _match("digest", digest):
            _bad(ref, "a digest is sha256:<64 hex digits>")
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            _bad(ref, "a tag is up to 128 letters, digits, '_', '.', '-'")
    if not name:
        _bad(ref, "no repository name")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if not _match("domain", first):
            _bad(ref, f"bad registry host {first!r}")
        domain, path = first, rest
    else:
        domain, path = default_domain, name
    if len(path) > 255 or not all(_match("component", c) for c in path.split("/")):
        _bad(ref, "repository names are lower-case letters, digits and separators")
    if "/" not in path and domain in (DOCKER_HUB, default_domain):
        path = "library/" + path       # official images (a lab registry as default mirrors Docker Hub's layout)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest, default_domain)

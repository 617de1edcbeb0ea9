"""Image references: ``name[:tag]``, as Docker spells them.

A reference is a human name for an image ID. ``busybox`` means ``busybox:latest``; a
tag follows the last ``:`` that comes after the last ``/`` (so ``localhost:5000/app``
has no tag). Tags are just pointers kept in the store's index: re-tagging moves the
pointer, the image itself never changes. See docker-tag(1).
"""

from __future__ import annotations

import re

from ..errors import UsageError

DEFAULT_TAG = "latest"
_NAME = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+|/[a-z0-9]+|:[0-9]+/[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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

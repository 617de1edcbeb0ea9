"""Whiteouts: how a layer records a deletion, in the two dialects that exist.

A layer can add and change files by simply containing them, but to *delete* a file of a
lower layer it needs a marker that says "there is nothing here". Two dialects exist,
and a runtime translates between them:

* **OCI/Docker layer tars** (image-spec ``layer.md``): an empty file ``.wh.NAME`` next to
  where ``NAME`` was means "NAME is deleted"; the special file ``DIR/.wh..wh..opq``
  means "DIR is *opaque*: hide everything lower layers had in it" (used when a
  directory is deleted and re-created).
* **overlayfs** (kernel ``Documentation/filesystems/overlayfs.rst``): a deleted name is a
  *character device with device number 0/0* in the upper (or a lower) directory, and
  an opaque directory carries the extended attribute ``trusted.overlay.opaque=y``
  (``user.overlay.opaque`` when mounted with ``userxattr``, for rootless overlay).

When a layer is unpacked for overlay we turn ``.wh.`` entries into overlay whiteouts
(:func:`oci_entry`); when a container's upper directory becomes a layer we turn them
back (:func:`overlay_kind`). See mknod(2) and setxattr(2).
"""

from __future__ import annotations

import os
import stat

from ..errors import ImageError

WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
OPAQUE_XATTR = OPAQUE_XATTRS[0]

# what a tar entry or an upper-dir entry means
PLAIN = "plain"
WHITEOUT = "whiteout"     # the name is deleted
OPAQUE = "opaque"         # the directory hides everything below it


def oci_entry(relpath: str) -> tuple[str, str]:
    """Classify a tar entry name: ``("whiteout", "dir/NAME")`` for ``dir/.wh.NAME``,
    ``("opaque", "dir")`` for ``dir/.wh..wh..opq`` and ``("plain", relpath)`` otherwise;
    a bare ``.wh.`` (a whiteout naming nothing) and ``.wh..`` / ``.wh...`` (naming the
    directory itself or its parent) are refused."""
    head, _, base = relpath.rpartition("/")
    if base == WH_OPAQUE:
        return OPAQUE, head
    if base == WH_PREFIX:      # layer.md: ".wh." + the name it deletes; with no name it deletes nothing
        raise ImageError("whiteout with an empty target name (.wh. alone; layer.md: whiteouts)", op="unpack",
                         path=relpath)
    if base.startswith(WH_PREFIX):
        target = base[len(WH_PREFIX):]
        if target in (".", ".."):  # ".wh..." would delete the directory above, outside the layer
            raise ImageError(f"whiteout of {target!r} in archive (it names no file of a lower layer)",
                             op="unpack", path=relpath)
        return WHITEOUT, f"{head}/{target}" if head else target
    return PLAIN, relpath


def oci_whiteout_name(relpath: str) -> str:
    """``"etc/motd"`` -> ``"etc/.wh.motd"`` (the tar entry that deletes it)."""
    head, _, base = relpath.rpartition("/")
    return f"{head}/{WH_PREFIX}{base}" if head else f"{WH_PREFIX}{base}"


def oci_opaque_name(dir_relpath: str) -> str:
    """``"var/cache"`` -> ``"var/cache/.wh..wh..opq"``."""
    return f"{dir_relpath}/{WH_OPAQUE}" if dir_relpath else WH_OPAQUE


def is_overlay_whiteout(st: os.stat_result) -> bool:
    """overlayfs marks a deleted name with a 0/0 character device."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque_dir(path_or_fd, *, follow_symlinks: bool = False) -> bool:
    """Does this directory carry ``trusted.overlay.opaque=y`` (or the ``user.`` form)?"""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path_or_fd, name, follow_symlinks=follow_symlinks) == b"y":
                return True
        except OSError:
            continue
    return False


def overlay_kind(st: os.stat_result, path_or_fd) -> str:
    """Classify an entry of an overlay upper directory: whiteout, opaque dir, or plain."""
    if is_overlay_whiteout(st):
        return WHITEOUT
    if stat.S_ISDIR(st.st_mode) and is_opaque_dir(path_or_fd):
        return OPAQUE
    return PLAIN

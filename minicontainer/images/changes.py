"""What a container changed: read its overlay upper directory against the image's layers.

Everything a container writes lands in its upper directory: new files, copied-up files
(the first write to a lower file copies it up whole), and whiteouts for deletions.
So ``docker diff`` needs no bookkeeping: walk the upper directory and, for each path,
say **A** (added: no lower layer has it), **C** (changed: a lower layer has it; parent
directories of anything written show up as C because overlay copies them up too) or
**D** (deleted: a whiteout). An *opaque* directory hides everything below it, so the
names its lower versions had are reported deleted. See overlayfs.rst, "whiteouts and
opaque directories".

Lower layers are looked up top-down the way overlay does it, without following links:
a whiteout or a non-directory in a higher layer hides the path in every lower one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ImageError
from . import whiteouts as wh

_DIR_OPEN = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _layer_lookup(layer: Path, parts: tuple) -> str:
    """What one layer says about ``parts``: "present", "deleted" (a whiteout, or a
    non-directory or opaque directory above it), or "absent" (ask the next layer down)."""
    try:
        fd = os.open(layer, _DIR_OPEN)
    except OSError:
        return "absent"
    opaque = False
    try:
        for i, name in enumerate(parts):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                return "deleted" if opaque else "absent"
            if wh.is_overlay_whiteout(st):
                return "deleted"
            if i == len(parts) - 1:
                return "present"
            if not stat.S_ISDIR(st.st_mode):
                return "deleted"          # a file or link here hides lower directories of that name
            nfd = os.open(name, _DIR_OPEN, dir_fd=fd)
            os.close(fd)
            fd = nfd
            opaque = opaque or wh.is_opaque_dir(str(layer.joinpath(*parts[:i + 1])))
    finally:
        os.close(fd)
    return "absent"


def in_lower(layers_top_first: list[Path], parts: tuple) -> bool:
    """Is ``parts`` visible in the union of these read-only layers (top layer first)?"""
    for layer in layers_top_first:
        found = _layer_lookup(layer, parts)
        if found != "absent":
            return found == "present"
    return False


def _lower_names(layers_top_first: list[Path], parts: tuple) -> set[str]:
    names: set[str] = set()
    for layer in layers_top_first:
        if _layer_lookup(layer, parts) != "present" or not layer.joinpath(*parts).is_dir():
            continue
        for name in os.listdir(layer.joinpath(*parts)):
            if in_lower(layers_top_first, parts + (name,)):
                names.add(name)
    return names


def diff(upper: Path, layer_dirs: list[Path]) -> list[tuple[str, str]]:
    """``[("C", "/etc"), ("A", "/etc/motd"), ("D", "/bin/vi"), ...]`` in path order.

    ``layer_dirs`` are the image's layers, lowest first (as :class:`Image` lists them).
    """
    upper = Path(upper)
    if not upper.is_dir():
        raise ImageError("no such upper directory", op="diff", path=upper)
    lowers = list(reversed([Path(p) for p in layer_dirs]))
    out: list[tuple[str, str]] = []

    def walk(parts: tuple, under_added: bool) -> None:
        here = upper.joinpath(*parts)
        upper_names = sorted(os.listdir(here))
        for name in upper_names:
            p = parts + (name,)
            st = os.lstat(here / name)
            if wh.is_overlay_whiteout(st):
                if in_lower(lowers, p):
                    out.append(("D", "/" + "/".join(p)))
                continue
            added = under_added or not in_lower(lowers, p)
            out.append(("A" if added else "C", "/" + "/".join(p)))
            if stat.S_ISDIR(st.st_mode):
                if not added and wh.is_opaque_dir(str(here / name)):
                    for gone in sorted(_lower_names(lowers, p) - set(os.listdir(here / name))):
                        out.append(("D", "/" + "/".join(p + (gone,))))
                    walk(p, True)
                else:
                    walk(p, added)

    try:
        walk((), False)
    except OSError as err:
        raise ImageError(f"cannot read the upper directory: {err.strerror.lower()}", op="diff",
                         path=err.filename) from err
    return sorted(out, key=lambda change: change[1])

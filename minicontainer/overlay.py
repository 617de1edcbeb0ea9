"""overlayfs: the union mount that turns image layers into one root filesystem.

An overlay mount stacks read-only *lower* directories under one writable *upper*
directory and shows their union at the mount point (Documentation/filesystems/overlayfs.rst).
Reading finds a file in the topmost layer that has it; writing a lower file first
copies it up into the upper directory ("copy-up"); deleting a lower file leaves a
*whiteout* (a 0/0 character device) in the upper directory. The image layers stay
untouched, so any number of containers share them, each with its own upper directory:
that is the source article's "image = layers of diffs" idea, done by the kernel.

The ``lowerdir=`` option lists the *top* layer first. All options travel in one
mount(2) data page, so a long stack of long paths can exceed the page size; we check
and say so instead of letting the kernel answer with a bare EINVAL.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence

from .errors import UsageError

#: mount(2) copies at most one page of option data.
MOUNT_DATA_LIMIT = os.sysconf("SC_PAGE_SIZE") - 1 if hasattr(os, "sysconf") else 4095


def overlay_options(layers_lowest_first: Sequence[os.PathLike | str], upper: os.PathLike | str,
                    work: os.PathLike | str) -> str:
    """The mount data for an overlay of ``layers`` (given lowest first, as images list them)."""
    if not layers_lowest_first:
        raise UsageError("an overlay needs at least one lower layer", op="overlay")
    for path in [*layers_lowest_first, upper, work]:
        text = os.fspath(path)
        if any(ch in text for ch in ",:\\"):
            raise UsageError("path contains a character overlay options cannot carry (',' ':' '\\\\')",
                             op="overlay", path=text)
    lower = ":".join(os.fspath(p) for p in reversed(list(layers_lowest_first)))
    data = f"lowerdir={lower},upperdir={os.fspath(upper)},workdir={os.fspath(work)}"
    if len(data) > MOUNT_DATA_LIMIT:
        raise UsageError(
            f"{len(layers_lowest_first)} layers make {len(data)} bytes of overlay options, over the "
            f"kernel's {MOUNT_DATA_LIMIT}-byte limit; squash the image (export | import) or use a shorter --root",
            op="overlay")
    return data


def lower_count(data: str) -> int:
    """How many lower layers an options string stacks (for tests and --explain)."""
    for part in data.split(","):
        if part.startswith("lowerdir="):
            return len(part[len("lowerdir="):].split(":"))
    return 0


def is_whiteout(path: Path) -> bool:
    """True for overlay's whiteout: a character device with device number 0/0."""
    import stat
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0

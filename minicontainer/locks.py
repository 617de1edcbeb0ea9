"""File locks: how concurrent commands take turns on the same state.

flock(2) puts an advisory lock on an open file description: ``LOCK_EX`` waits until no
other holder remains. The kernel drops the lock when the last descriptor is closed, even
if the process is killed, so a crashed command can never leave a stuck lock behind (a
lock *file* that merely exists would). Every store in the state root (containers,
images, networks, volumes, the build cache, the cgroup registry) takes turns this way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from .errors import MiniContainerError


def open_lock(path: os.PathLike | str, error=MiniContainerError, mode: int = 0o700) -> int:
    """Open (creating it and its folder) the lock file ``path`` and take the lock; a descriptor."""
    path = Path(path)
    try:
        path.parent.mkdir(mode=mode, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise error(f"cannot open lock: {(err.strerror or str(err)).lower()}", op="lock", path=path) from err
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@contextlib.contextmanager
def locked(path: os.PathLike | str, error=MiniContainerError, mode: int = 0o700):
    """Hold an exclusive flock on ``path`` for the ``with`` block."""
    fd = open_lock(path, error, mode)
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock

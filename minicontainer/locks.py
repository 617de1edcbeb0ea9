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
import threading
from pathlib import Path

from .errors import MiniContainerError

# Lock descriptors this process holds or is waiting on, fd -> (st_dev, st_ino). A flock
# belongs to the open file description, which fork(2) shares with the child: a child
# forked by one thread while another thread holds a lock would keep that lock held for as
# long as it lives (a container's PID 1 waiting for its start, say), and the thread that
# wants it next waits forever. So every child drops its copies right after fork
# (os.register_at_fork); the parent's lock is untouched. A descriptor is listed from the
# moment it is opened, not only once flock(2) returns: a thread still *waiting* when
# another thread forks would otherwise be granted the lock on a description the child
# also holds, and closing its own descriptor later would not release it (20 parallel
# `docker run`s through one engine deadlocked that way). (Exec drops them anyway: the
# descriptors are O_CLOEXEC.)
_HELD: dict[int, tuple[int, int]] = {}
# Held while a lock descriptor is opened and listed, or closed and unlisted, and across
# every os.fork(): a fork can then never fall between a thread's open(2) and its entry in
# _HELD (the child would keep a descriptor nobody knows about).
_GUARD = threading.Lock()


def _drop_in_child() -> None:
    _GUARD.release()         # taken by the forking thread, the only one left in the child
    for fd, ident in list(_HELD.items()):
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == ident:
                os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(before=_GUARD.acquire, after_in_parent=_GUARD.release, after_in_child=_drop_in_child)


def open_lock(path: os.PathLike | str, error=MiniContainerError, mode: int = 0o700, make_parent: bool = True) -> int:
    """Open (creating it, and its folder unless ``make_parent`` is false) the lock file ``path`` and
    take the lock; a descriptor. Without ``make_parent`` a missing folder raises FileNotFoundError:
    a lock must never bring back the folder of something removed meanwhile."""
    path = Path(path)
    try:
        if make_parent:
            path.parent.mkdir(mode=mode, parents=True, exist_ok=True)
        with _GUARD:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            st = os.fstat(fd)
            _HELD[fd] = (st.st_dev, st.st_ino)
    except OSError as err:
        if isinstance(err, FileNotFoundError) and not make_parent:
            raise
        raise error(f"cannot open lock: {(err.strerror or str(err)).lower()}", op="lock", path=path) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        release_lock(fd)
        raise
    return fd


def release_lock(fd: int) -> None:
    """Close a descriptor from ``open_lock``: the lock goes with its last descriptor."""
    with _GUARD:
        _HELD.pop(fd, None)
        os.close(fd)


@contextlib.contextmanager
def locked(path: os.PathLike | str, error=MiniContainerError, mode: int = 0o700, make_parent: bool = True):
    """Hold an exclusive flock on ``path`` for the ``with`` block."""
    fd = open_lock(path, error, mode, make_parent)
    try:
        yield
    finally:
        release_lock(fd)

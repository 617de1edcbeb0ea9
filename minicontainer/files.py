"""Removing the runtime's own trees of files.

A container's overlay work directory (``work/work``) is left with mode 000 by the kernel,
and layers may hold read-only directories: a plain recursive delete stops at them, the
more so without root (rootless mode). :func:`remove_tree` makes each blocking parent
writable and tries again, and never follows a symbolic link out of the tree.
"""

from __future__ import annotations

import os
import shutil


def remove_tree(path) -> None:
    """rm -rf that copes with read-only or mode-000 directories and never follows symlinks."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError:
        _open_up(path)   # make every directory ours to list and change, then try once more
        shutil.rmtree(path, onerror=_ignore_missing)


def discard_tree(path, name: str = "files", op: str = "remove a scratch tree") -> None:
    """:func:`remove_tree` on a clean-up path that must not raise: a failure goes to the debug log.

    For trees whose loss of a few files harms nobody (scratch and temporary directories); the
    record names ``op`` and the path, so ``--log-level debug`` shows what stayed behind.
    """
    try:
        remove_tree(path)
    except OSError as err:
        from . import log
        log.swallowed(name, op, err, path)


def _open_up(top) -> None:
    """chmod u+rwx every directory below ``top``, each before looking inside it."""
    stack = [os.fspath(top)]
    while stack:
        d = stack.pop()
        try:
            if os.lstat(d).st_mode & 0o700 != 0o700:
                os.chmod(d, 0o700)
            with os.scandir(d) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError as err:     # the retry of rmtree reports what still cannot be removed
            from . import log
            log.swallowed("files", "open up for removal", err, d)


def _ignore_missing(func, path, exc_info) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]

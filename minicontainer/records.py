"""Reading the small JSON records every store keeps (containers, volumes, networks, ...).

A record that does not exist is an ordinary answer ("no such container"), which each
store words its own way; a record that exists but cannot be read or parsed is damage,
reported as one error naming the file. This module draws that line once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import MiniContainerError


def read_json(path: os.PathLike | str, failure: str, error: type[MiniContainerError] = MiniContainerError,
              op: str = "read"):
    """The JSON document in ``path``, or None when there is no such file. Any other failure
    (unreadable, not JSON) raises ``error("<failure>: <reason>")`` carrying ``op`` and ``path``."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise error(f"{failure}: {err}", op=op, path=path) from err


def write_json(path: os.PathLike | str, data, failure: str, error: type[MiniContainerError] = MiniContainerError,
               *, mode: int = 0o644, op: str = "write", durable: bool = True,
               make_parent: bool = True) -> None:
    """Write ``data`` as JSON (indented, keys sorted) to ``path`` with :func:`write_atomic`."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text.encode(), failure, error, mode=mode, op=op, durable=durable, make_parent=make_parent)


def write_atomic(path: os.PathLike | str, data: bytes, failure: str,
                 error: type[MiniContainerError] = MiniContainerError, *, mode: int = 0o644, op: str = "write",
                 durable: bool = True, make_parent: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (a new file of ``mode``, fsync, rename(2)): a reader
    sees the old content or the new, never half of it, and a failure leaves no temporary file.
    Credentials pass 0o600, and the file is created with it (never briefly readable by others).
    ``durable=False`` skips the fsync(2) (still atomic, not crash-proof): for state that lives no
    longer than the processes it describes, as runc's own state.json, on the container start path.
    ``make_parent=False`` never recreates a folder removed meanwhile (a container's, by rm -f)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        if make_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)       # the umask may have taken bits off
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError as gone:          # the write's own error is the one to report
            from . import log
            log.swallowed("records", "remove the temporary file", gone, tmp)
        raise error(f"{failure}: {err.strerror.lower() if err.strerror else err}", op=op, path=path) from err

"""One exception family for the whole runtime.

Every error the runtime raises is a :class:`MiniContainerError` carrying the operation
that failed and, where there is one, the path it failed on. ``OSError`` is translated
at the boundary (``raise ... from err``) so callers never have to guess which errno
came from where. Messages are lower-case with no trailing period, as in youki.

``exit_code`` follows Docker: 125 when the runtime itself fails, 126 when the command
cannot be executed, 127 when it cannot be found.
"""

from __future__ import annotations

import errno as _errno
import os


class MiniContainerError(Exception):
    """Base class: ``op`` is what we were doing, ``path`` what we were doing it to."""

    exit_code = 125

    def __init__(self, message: str, *, op: str | None = None, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.message = message
        self.op = op
        self.path = os.fspath(path) if path is not None else None

    def __str__(self) -> str:
        parts = [p for p in (self.op, self.path) if p]
        return ": ".join(parts + [self.message])


class UsageError(MiniContainerError):
    """Bad input on the command line or in an API call (checked before anything is created)."""


class AuthError(UsageError):
    """A registry refused the credentials, or wants some (HTTP 401/403)."""


class NotFoundError(MiniContainerError):
    """An image, container, volume or network that does not exist."""


class ConflictError(MiniContainerError):
    """A name already in use, or an object still in use by another."""


class StateError(MiniContainerError):
    """An operation the container's current lifecycle state does not allow."""


class KernelError(MiniContainerError):
    """A system call failed; ``errno`` is the kernel's answer."""

    def __init__(self, message: str, *, op: str, path=None, errno: int | None = None):
        super().__init__(message, op=op, path=path)
        self.errno = errno

    @classmethod
    def from_oserror(cls, op: str, err: OSError, path=None) -> "KernelError":
        code = err.errno or 0
        name = _errno.errorcode.get(code, str(code))
        text = (os.strerror(code) if code else str(err)).lower()
        return cls(f"{text} ({name})", op=op, path=path if path is not None else err.filename, errno=code)


class CgroupError(MiniContainerError):
    """A cgroup could not be created, configured, read or removed."""


class ImageError(MiniContainerError):
    """An image or layer is malformed, unsafe, or failed its digest check."""


class NetworkError(MiniContainerError):
    """A network, address or port could not be set up."""


class ExecError(MiniContainerError):
    """The container's command could not be executed (126) or found (127)."""

    def __init__(self, message: str, *, op: str = "exec", path=None, exit_code: int = 126):
        super().__init__(message, op=op, path=path)
        self.exit_code = exit_code

"""Library errors as the Docker Engine API reports them: a status code and ``{"message": ...}``.

Docker's statuses (moby ``errdefs``): 400 bad parameter, 404 no such object, 409 conflict
(a name in use, a container that is not running), 304 not modified (start a running
container, stop a stopped one), 500 for everything the server itself failed at. The
docker CLI reads a 404 from ``create`` as "no such image" and pulls, so 404 is used only
for objects that really do not exist.
"""

from __future__ import annotations

from ..errors import ConflictError, ExecError, MiniContainerError, NotFoundError, StateError, UsageError


class HTTPError(Exception):
    """An error the HTTP layer itself raises (bad JSON, unknown route, body too large)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


STATUS = ((NotFoundError, 404), (ConflictError, 409), (UsageError, 400), (StateError, 409))


def status_for(err: BaseException) -> int:
    if isinstance(err, HTTPError):
        return err.status
    for cls, status in STATUS:
        if isinstance(err, cls):
            return status
    if isinstance(err, ExecError):
        return 400       # dockerd: "exec: ...: executable file not found" is a 400 from start
    return 500


def message_for(err: BaseException) -> str:
    if isinstance(err, MiniContainerError) and err.op and err.message.startswith(f"{err.op}:"):
        return err.message     # "exec: ..." needs no second "exec: "
    if isinstance(err, (HTTPError, MiniContainerError)):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"


def error_body(err: BaseException) -> dict:
    return {"message": message_for(err)}

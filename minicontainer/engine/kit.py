"""Small pieces the image, build, system, network and volume endpoints share.

* ``filters`` with Docker's check: a filter name the endpoint does not know is a 400
  ``invalid filter 'NAME'``, never silently ignored (a typo would otherwise list everything);
* uploads: a tar in the request body goes to a file in a scratch folder under the state
  root (``<root>/engine-tmp/``), capped at :data:`MAX_UPLOAD` bytes (413 past it), so the
  archive code can check all of it before anything enters a store; the folder is removed
  whatever happens;
* downloads: a file sent as the response body in chunks, its scratch folder removed when the
  last chunk has gone or the client has left.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..files import discard_tree
from ..errors import UsageError
from .errors import HTTPError
from .routes import raw_stream

MAX_UPLOAD = 8 << 30           # 8 GiB: an image archive or build context larger than this is refused
CHUNK = 1 << 20


def filters(req, allowed) -> dict[str, list[str]]:
    found = req.filters()
    for key in found:
        if key not in allowed:
            raise HTTPError(400, f"invalid filter '{key}'")
    return found


def labels_match(labels: dict, wanted: list[str]) -> bool:
    """Docker's ``label`` filter: every ``key`` or ``key=value`` given must hold."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def json_object(req, default=None) -> dict:
    """The body as a JSON object (an array or a string is a 400, as a malformed document is)."""
    data = req.json(default if default is not None else {})
    if not isinstance(data, dict):
        raise HTTPError(400, "invalid JSON: expected an object")
    return data


def scratch_dir(req) -> Path:
    """A new private folder for one request's files, under the state root (same filesystem as
    the stores, so nothing large lands on a small /tmp)."""
    base = Path(req.engine.root) / "engine-tmp"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base))


def body_to_file(req, path: Path, limit: int = MAX_UPLOAD) -> Path:
    """Copy the request body to ``path``; 413 past ``limit`` bytes, 400 for an empty body."""
    length = req.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body too large ({length} bytes, at most {limit})")
    reader, total = req.stream(), 0
    with open(path, "wb") as f:
        while True:
            chunk = reader.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise HTTPError(413, f"request body too large (more than {limit} bytes)")
            f.write(chunk)
    if total == 0:
        raise UsageError("the request body is empty (a tar archive was expected)", op="upload")
    return path


def file_response(path: Path, content_type: str, scratch: Path) -> object:
    """Send ``path`` as the body; ``scratch`` (the folder holding it) is removed afterwards."""
    size = os.path.getsize(path)

    def chunks():
        try:
            with open(path, "rb") as f:
                while True:
                    data = f.read(CHUNK)
                    if not data:
                        break
                    yield data
        finally:
            discard_tree(scratch, "engine")
    return raw_stream(chunks(), content_type, headers={"Content-Length": str(size)})


class _Done:
    def __init__(self, error: BaseException | None = None):
        self.error = error


def progress_stream(req, work, *, what: str, cleanup=None, early_errors: bool = False, hold: int = 0):
    """Run ``work(report)`` on a thread and stream every ``report(message)`` as one JSON line.

    A library error after the stream has begun becomes its last message, Docker's
    ``{"errorDetail": {"message": ...}, "error": ...}`` (the status line is sent already). With
    ``early_errors``, an error raised before the first message is raised here instead, so it gets
    its own status (a pull of an image that does not exist is a 404, not a 200 with an error);
    ``hold`` more messages are kept back first (a pull says "Pulling from" before it asks the
    registry anything). ``cleanup()`` runs once the work has ended, whether the client stayed or not."""
    import json
    import queue
    import threading
    from ..errors import MiniContainerError
    q: queue.Queue = queue.Queue()

    def run():
        try:
            work(q.put)
            q.put(_Done())
        except BaseException as err:  # noqa: BLE001 - handed to the reader, which reports it
            if not isinstance(err, MiniContainerError):
                req.engine.log.exception("%s failed", what)
            q.put(_Done(err))

    worker = threading.Thread(target=run, name=what, daemon=True)
    worker.start()
    held = [q.get()]
    while early_errors and len(held) <= hold and not isinstance(held[-1], _Done):
        held.append(q.get())
    if early_errors and isinstance(held[-1], _Done) and held[-1].error is not None:
        worker.join()
        if cleanup is not None:
            cleanup()
        raise held[-1].error

    def error_message(err: BaseException) -> dict:
        if isinstance(err, MiniContainerError):
            text = str(err) if getattr(err, "line", None) is not None else err.message
        else:
            text = f"internal error: {type(err).__name__}: {err}"
        return {"errorDetail": {"message": text}, "error": text}

    def lines():
        try:
            while True:
                item = held.pop(0) if held else q.get()
                if isinstance(item, _Done):
                    if item.error is not None:
                        yield json.dumps(error_message(item.error)).encode() + b"\n"
                    return
                yield json.dumps(item).encode() + b"\n"
        finally:
            worker.join()                     # a client that left: the work still ends cleanly
            if cleanup is not None:
                cleanup()
    from .routes import Response
    return Response(200, {"Content-Type": "application/json"}, lines())

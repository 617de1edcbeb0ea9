"""The route table, the request a handler reads, and the responses it returns.

A route is a method and a path pattern (``/containers/{id}/json``); ``{name}`` matches
one path segment, ``{name:path}`` any text including ``/`` (image names such as
``library/busybox``). Routes are registered with the :func:`route` decorator at import
time. The server strips the API version prefix (``/v1.45``) before matching, as dockerd
serves every path both versioned and unversioned.

Query strings follow Docker's conventions: repeated keys (``?t=a&t=b``), booleans as
``1``/``true``/``True``, and ``filters`` as a JSON object mapping a filter name to a list
of values (older clients send ``{"name": {"value": true}}``; both are read).
"""

from __future__ import annotations

import json
import re
import select
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import parse_qs, unquote

from .errors import HTTPError

DEFAULT_MAX_BODY = 16 * 1024 * 1024     # a JSON request body larger than this is refused (413)

_SEGMENT = re.compile(r"\{(\w+)(:path)?\}")


@dataclass
class Route:
    """One endpoint: ``handler(req)`` serves ``method`` on paths matching ``regex``."""

    method: str
    pattern: str
    regex: re.Pattern
    handler: Callable
    max_body: int | None = DEFAULT_MAX_BODY


ROUTES: list[Route] = []


def _compile(pattern: str) -> re.Pattern:
    out, pos = [], 0
    for m in _SEGMENT.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>{'.+?' if m.group(2) else '[^/]+'})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "$")


def route(method: str, pattern: str, *, max_body: int | None = DEFAULT_MAX_BODY):
    """Register the decorated function as the handler of ``method pattern``."""
    def register(fn):
        ROUTES.append(Route(method.upper(), pattern, _compile(pattern), fn, max_body))
        return fn
    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request (literal patterns before parameterised ones) and its path parameters."""
    candidates = []
    for r in ROUTES:
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m:
            candidates.append(("{" in r.pattern, r, {k: unquote(v) for k, v in m.groupdict().items()}))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])   # stable: registration order within each kind
    return candidates[0][1], candidates[0][2]


class BodyReader:
    """The request body as a file: Content-Length or chunked, refused past ``limit`` bytes."""

    def __init__(self, rfile, length: int | None, chunked: bool, limit: int | None):
        self._f, self._left, self._chunked, self._limit = rfile, length, chunked, limit
        self._chunk_left, self._done, self.total = 0, (not chunked and not length), 0

    def _count(self, n: int) -> None:
        self.total += n
        if self._limit is not None and self.total > self._limit:
            raise HTTPError(413, f"request body too large (more than {self._limit} bytes)")

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        if n is None or n < 0:
            parts = []
            while True:
                part = self.read(65536)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        if not self._chunked:
            data = self._f.read(min(n, self._left))
            if not data:
                raise HTTPError(400, "request body ended early")
            self._left -= len(data)
            self._done = self._left == 0
            self._count(len(data))
            return data
        if self._chunk_left == 0:
            line = self._f.readline(1024).strip()
            size = int(line.split(b";")[0] or b"0", 16) if line else 0
            if size == 0:
                while self._f.readline(1024).strip():   # trailers
                    pass
                self._done = True
                return b""
            self._chunk_left = size
        data = self._f.read(min(n, self._chunk_left))
        if not data:
            raise HTTPError(400, "request body ended early")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._f.readline(16)   # the CRLF after a chunk
        self._count(len(data))
        return data

    @property
    def finished(self) -> bool:
        return self._done


class Request:
    """What a handler sees: method, unversioned path, path params, query, headers, body."""

    def __init__(self, method: str, path: str, query: str, headers, rfile, sock, engine,
                 api_version: str | None = None):
        self.method, self.path, self.headers, self.engine = method, path, headers, engine
        self.api_version = api_version
        self.query: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
        self.params: dict[str, str] = {}
        self.rfile, self.sock = rfile, sock
        length = headers.get("Content-Length")
        chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        try:
            self._length = int(length) if length else None
        except ValueError as err:
            raise HTTPError(400, f"bad content-length {length!r}") from err
        self._chunked = chunked
        self._reader: BodyReader | None = None
        self.max_body: int | None = DEFAULT_MAX_BODY

    # -- query --------------------------------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() not in ("", "0", "false", "no")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError as err:
            raise HTTPError(400, f"invalid value for {name}: {value!r}") from err

    def filters(self) -> dict[str, list[str]]:
        text = self.arg("filters")
        if not text:
            return {}
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise HTTPError(400, f"invalid filters: {err}") from err
        if not isinstance(raw, dict):
            raise HTTPError(400, "invalid filters: expected a JSON object")
        out = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                out[key] = [k for k, on in value.items() if on]
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out

    # -- body ---------------------------------------------------------------
    def stream(self) -> BodyReader:
        """The body as a file-like reader (for tar uploads); capped at the route's ``max_body``."""
        if self._reader is None:
            if self._length is not None and self.max_body is not None and self._length > self.max_body:
                raise HTTPError(413, f"request body too large ({self._length} bytes, at most {self.max_body})")
            self._reader = BodyReader(self.rfile, self._length, self._chunked, self.max_body)
        return self._reader

    def body(self) -> bytes:
        return self.stream().read()

    def json(self, default=None):
        """The body as JSON (``default`` when empty); malformed JSON is a 400."""
        data = self.body()
        if not data.strip():
            return default
        try:
            return json.loads(data)
        except ValueError as err:
            raise HTTPError(400, f"invalid JSON: {err}") from err

    def drain_small(self, limit: int = 1 << 20) -> None:
        """Read and drop an unread body of a known, small length, so an early answer (a 404
        before the handler looked at the body) does not close the connection under a client
        that is still sending it (it would see a broken pipe instead of the answer)."""
        if self._reader is None and not self._chunked and self._length and self._length <= limit:
            self.rfile.read(self._length)
            self._length = 0

    def body_consumed(self) -> bool:
        if self._reader is not None:
            return self._reader.finished
        return not self._chunked and not self._length

    def disconnected(self) -> bool:
        """True once the client has closed the connection (for streams that wait a long time)."""
        return hung_up(self.sock)


def hung_up(sock) -> bool:
    """Has the peer closed its end completely? POLLHUP (poll(2)); a peer that only shut down its
    writing side (as the docker CLI does on attach without stdin) still reads."""
    try:
        p = select.poll()
        p.register(sock, select.POLLHUP)
        return any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in p.poll(0))
    except (OSError, ValueError):
        return True


# -- responses ---------------------------------------------------------------
@dataclass
class Response:
    """``body`` is bytes, an iterable of bytes (streamed, chunked), or None; ``hijack`` takes the connection."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] | None = b""
    hijack: Callable | None = None


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    data = json.dumps(obj).encode() + b"\n"
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, data)


def no_content(status: int = 204, headers: dict | None = None) -> Response:
    return Response(status, dict(headers or {}), b"")


def json_stream(items: Iterable, headers: dict | None = None, status: int = 200) -> Response:
    """One JSON document per line, each sent as soon as it is produced (headers go out first)."""
    def lines():
        for item in items:
            yield json.dumps(item).encode() + b"\n"
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, lines())


def raw_stream(chunks: Iterable[bytes], content_type: str = "application/octet-stream",
               headers: dict | None = None, status: int = 200) -> Response:
    return Response(status, {"Content-Type": content_type, **(headers or {})}, iter(chunks))


def hijack(fn: Callable, content_type: str = "application/vnd.docker.raw-stream") -> Response:
    """Answer ``101 UPGRADED`` (or 200 to a client that asked for no upgrade), then ``fn(conn)``
    owns the raw connection: a :class:`~.server.Hijacked` with read/write/close_write."""
    return Response(101, {"Content-Type": content_type}, None, hijack=fn)

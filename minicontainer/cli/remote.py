"""``minicontainer -H unix:///PATH COMMAND``: the same commands, sent to a running engine.

Without ``-H`` (or ``MINICONTAINER_HOST``) the CLI is daemonless: it is the runtime, and a
start pays for a Python interpreter and the runtime's imports. With it, the CLI is a
*client* as the ``docker`` command is: it turns the flags into Docker Engine API requests
on the engine's unix socket, and the engine, a warm process, does the work. This module
imports the standard library's socket and json and the flag definitions, nothing of the
runtime, so a client start costs little more than the interpreter.

``run`` makes the requests the docker CLI makes (moby api/swagger.yaml): ``POST
/containers/create`` (a 404 there means "no such image": pull it, ``POST /images/create``,
and create again), ``POST /containers/ID/attach`` hijacked (``101 UPGRADED``, then framed
output: an 8-byte header ``[stream, 0, 0, 0, size]`` per piece unless there is a tty),
``POST /containers/ID/wait`` (its headers come at once, the status after the exit), then
``POST /containers/ID/start``; the exit status comes from the wait.

Served through an engine: run, create, start, ps, logs, stop, kill, rm, inspect, images,
version. Other commands are refused by name, with exit status 125.
"""

from __future__ import annotations

import json
import socket
import sys

from ..errors import MiniContainerError

API = "/v1.43"
SERVED = ("run", "create", "start", "ps", "logs", "stop", "kill", "rm", "inspect", "images", "version")


class EngineError(MiniContainerError):
    """The engine answered with an error: its ``{"message": ...}`` and HTTP status."""

    def __init__(self, status: int, message: str, op: str):
        super().__init__(message)          # the engine's message names its own operation already
        self.status, self.request = status, op
        self.exit_code = 125


def host_socket(host: str) -> str:
    """``unix:///run/x.sock`` -> ``/run/x.sock``: the engine's own parser (:mod:`minicontainer.hostaddr`)."""
    from ..hostaddr import unix_socket
    return unix_socket(host, "connect")


class Client:
    """Docker Engine API requests over one unix socket, one connection per request."""

    def __init__(self, path: str):
        self.path = path

    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
        except OSError as err:
            s.close()
            raise MiniContainerError(f"cannot connect to the engine at unix://{self.path}: {err.strerror} "
                                     "(is 'minicontainer engine' running?)", op="connect") from err
        return s

    def send(self, method: str, path: str, query: dict | None = None, body=None,
             upgrade: bool = False) -> "Response":
        """Send one request; the answer's status and headers are read, its body is left to read."""
        target = API + path + ("?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
                               if query else "")
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {target} HTTP/1.1", "Host: minicontainer", "User-Agent: minicontainer-client"]
        if body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(data)}")
        head += ["Connection: Upgrade", "Upgrade: tcp"] if upgrade else ["Connection: close"]
        s = self._connect()
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        return Response(s)

    def call(self, method: str, path: str, query: dict | None = None, body=None, op: str = "request"):
        """A request whose whole answer is JSON (or empty): the decoded body, or EngineError."""
        resp = self.send(method, path, query, body)
        raw = resp.read_all()
        resp.close()
        if resp.status >= 400:
            raise EngineError(resp.status, error_message(raw), op)
        return json.loads(raw) if raw.strip() else None


def error_message(raw: bytes) -> str:
    try:
        return json.loads(raw)["message"]
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace").strip() or "no message"


class Response:
    """An HTTP/1.1 answer read straight off the socket: status, headers, then the body."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf = sock, b""
        while b"\r\n\r\n" not in self.buf:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise MiniContainerError("the engine closed the connection before answering", op="request")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.length = int(self.headers["content-length"]) if "content-length" in self.headers else None

    def _recv(self) -> bytes:
        if self.buf:
            data, self.buf = self.buf, b""
            return data
        return self.sock.recv(65536)

    def raw(self):
        """The bytes after the headers as they come: a hijacked stream or an unframed body."""
        left = self.length
        while left is None or left > 0:
            data = self._recv()
            if not data:
                return
            if left is not None:
                data, left = data[:left], left - len(data)
            yield data

    def body(self):
        """The body's pieces, chunked transfer decoded."""
        if not self.chunked:
            yield from self.raw()
            return
        pending = b""
        stream = self.raw()
        while True:
            while b"\r\n" not in pending:
                more = next(stream, b"")
                if not more:
                    return
                pending += more
            size_line, pending = pending.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            while len(pending) < size + 2:
                more = next(stream, b"")
                if not more:
                    return
                pending += more
            yield pending[:size]
            pending = pending[size + 2:]

    def read_all(self) -> bytes:
        return b"".join(self.body())

    def lines(self):
        """A JSON stream (one object per line), decoded."""
        pending = b""
        for piece in self.body():
            pending += piece
            *done, pending = pending.split(b"\n")
            for line in done:
                if line.strip():
                    yield json.loads(line)
        if pending.strip():
            yield json.loads(pending)

    def close(self) -> None:
        self.sock.close()


def demux(chunks, out=None, err=None) -> None:
    """Write framed output (8-byte headers, moby's multiplexed stream) to stdout and stderr."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    pending = b""
    for data in chunks:
        pending += data
        while len(pending) >= 8:
            size = int.from_bytes(pending[4:8], "big")
            if len(pending) < 8 + size:
                break
            (err if pending[0] == 2 else out).write(pending[8:8 + size])
            (err if pending[0] == 2 else out).flush()
            pending = pending[8 + size:]


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _quote(value) -> str:
    """Percent-encoding (RFC 3986 section 2.1) of everything but the unreserved characters:
    urllib.parse would do it too, for a few milliseconds of imports a client start does not need."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in str(value).encode())


def _ref(name: str) -> str:
    return _quote(name)


def run_remote(host: str, command: str, argv: list[str]) -> int:
    """Run ``command`` through the engine at ``host``: errors as one line, Docker's exit codes."""
    from .remote_commands import main
    try:
        return main(host, command, argv)
    except MiniContainerError as err:
        print(f"minicontainer: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130

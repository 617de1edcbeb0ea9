"""The engine's server: a unix socket, HTTP/1.1 with one thread per connection, hijacking.

dockerd listens on ``/run/docker.sock``; whoever can connect to it can start a
privileged container, so the socket's mode (0660) and group decide who is root on the
host. This server does the same on ``/run/minicontainer/engine.sock`` (no TCP).

HTTP comes from the standard library (``http.server``): each connection gets a thread
that reads requests in a loop (keep-alive). Three kinds of answer:

- a body of known length (most endpoints);
- a stream (``Transfer-Encoding: chunked``): the headers go out at once, then each
  chunk as it is produced (``logs?follow``, ``events``, ``wait``: the docker CLI sends
  ``start`` only once ``wait``'s headers have arrived);
- a hijack: ``101 UPGRADED``, after which the connection is a raw byte pipe in both
  directions (``attach``, ``exec start``), as in RFC 7230's Upgrade mechanism.

One engine per socket: a second one refuses to start (a flock on ``SOCKET.lock`` plus a
connect test); a socket left by a crashed engine is taken over.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import importlib
import importlib.util
import logging
import os
import re
import signal
import socket
import socketserver
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from .. import paths
from ..errors import ConflictError, MiniContainerError
from . import MODULES
from .errors import HTTPError, error_body, status_for
from .routes import Request, Response, json_response, match

LOG = logging.getLogger("minicontainer.engine")
VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
SOCKET_GROUP = "minicontainer"


class Engine:
    """What every handler shares: the state root and a Runtime on it (one per thread, since a
    Runtime's Syscalls records the steps of the call in progress). Locks are files: threads
    and other processes (the CLI) take turns the same way."""

    def __init__(self, state_root=None, *, trace: bool = False):
        self.root = paths.state_root(state_root)
        self.trace = trace
        self.log = LOG
        self._local = threading.local()
        self.started = time.time()
        self.codes: dict[str, int | None] = {}   # exit codes known here first: --rm reaps
        self.execs: dict = {}                    # exec id -> its record (exec.py)
        self.lock = threading.Lock()

    @property
    def runtime(self):
        rt = getattr(self._local, "runtime", None)
        if rt is None:
            from ..runtime import Runtime
            rt = self._local.runtime = Runtime(self.root)
        return rt

    def start(self, cid: str):
        """Start a container (``Runtime.start``). With ``--trace`` the kernel steps the start took,
        in the runtime and inside the new container (the ``--explain`` steps), go to the log
        after the request that caused them: the API call and the kernel work side by side."""
        try:
            result = self.runtime.container(cid).start(explain=self.trace)
        except MiniContainerError as err:
            self._trace(cid, getattr(err, "steps", None))
            self._remove_after_failed_start(cid)
            raise
        self._trace(cid, result.steps)
        if result.container.config.get("rm"):
            with self.lock:
                self.codes[cid] = None           # a wait for its removal waits for this code too
            threading.Thread(target=self._reap, args=(cid,), name=f"reap-{cid[:12]}", daemon=True).start()
        return result

    def _remove_after_failed_start(self, cid: str) -> None:
        """An AutoRemove (--rm) container whose start failed (126, 127...) is removed before the
        error is answered, as dockerd does: the docker CLI returns on that error without waiting for
        the removal, so a removal left to the monitor's reaper could outlive the command."""
        from ..errors import NotFoundError
        rt = self.runtime
        try:
            if not rt.containers.load(cid).config.get("rm"):
                return
            rt.container(cid).destroy(force=True)
        except NotFoundError as err:           # the monitor's reaper was first
            from .. import log
            log.swallowed("engine", f"remove {cid[:12]} after its failed start", err)

    def _reap(self, cid: str) -> None:
        """Remove a --rm container as soon as it exits, from this warm process
        (runtime.watch.reap_when_exited), and keep its exit code for the waits; the monitor's
        own cleanup still runs and finds it gone, or does the job if the engine could not."""
        from ..runtime.watch import reap_when_exited
        code = None
        try:
            code = reap_when_exited(self.runtime, cid)
        except MiniContainerError as err:
            from .. import log
            log.swallowed("engine", f"reap {cid[:12]}", err)
        finally:
            with self.lock:
                if code is None:
                    if cid in self.codes and self.codes[cid] is None:
                        del self.codes[cid]      # the record (or the monitor's reaper) has it
                else:
                    self.codes[cid] = code

    def _trace(self, cid: str, steps) -> None:
        if not self.trace or not steps:
            return
        from ..runtime.explain import aliases_for, format_steps
        self._local.traced = True
        LOG.info("start %s: %d kernel steps\n%s", cid[:12], len(steps),
                 format_steps(steps, aliases_for(self.runtime, cid)))

    def _steps(self) -> list:
        """This thread's recorded kernel steps, without making a Runtime for a request that needs none."""
        rt = getattr(self._local, "runtime", None)
        return rt.sys.steps if rt is not None else []

    def trace_mark(self) -> int:
        """Where this thread's kernel steps stand before a request (see :meth:`trace_request`)."""
        self._local.traced = False
        return len(self._steps())

    def trace_request(self, what: str, mark: int) -> None:
        """After a request: with ``--trace``, log the kernel steps it caused unless it was a start
        (logged with its container already): a stop's kill(2), a removal's umount2(2) and the rmdir(2)
        of its cgroups... Then forget them: a warm engine keeps no history of what it did."""
        steps = self._steps()
        if self.trace and not getattr(self._local, "traced", False) and len(steps) > mark:
            from ..runtime.explain import format_steps
            LOG.info("%s: %d kernel steps\n%s", what, len(steps) - mark, format_steps(steps[mark:], {}))
        steps.clear()


def load_routes() -> None:
    """Import every endpoint module of the package (each registers its routes once)."""
    for name in MODULES:
        full = f"{__package__}.{name}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)


def check_version(major: str, minor: str) -> str:
    from .ping import API_VERSION, MIN_API_VERSION
    asked = (int(major), int(minor))
    text = f"{asked[0]}.{asked[1]}"
    if asked > tuple(map(int, API_VERSION.split("."))):
        raise HTTPError(400, f"client version {text} is too new. Maximum supported API version is {API_VERSION}")
    if asked < tuple(map(int, MIN_API_VERSION.split("."))):
        raise HTTPError(400, f"client version {text} is too old. Minimum supported API version is "
                             f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    return text


class Hijacked:
    """The raw connection after ``101 UPGRADED``: bytes the HTTP reader already buffered come first."""

    def __init__(self, sock: socket.socket, rfile):
        self.sock, self.rfile = sock, rfile

    def read(self, n: int = 65536) -> bytes:
        try:
            return self.rfile.read1(n)
        except (ConnectionError, OSError):
            return b""

    def write(self, data: bytes) -> bool:
        """Send everything; False once the client is gone."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionError, OSError):
            return False

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def gone(self) -> bool:
        """The client closed the connection (not merely its sending side)."""
        from .routes import hung_up
        return hung_up(self.sock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "minicontainer-engine"
    sys_version = ""

    def address_string(self) -> str:   # a unix socket peer has no address
        return "unix"

    def log_message(self, fmt, *args) -> None:   # http.server's own messages (bad request lines)
        LOG.debug("http: " + fmt, *args)

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _serve(self) -> None:
        t0 = time.monotonic()
        engine: Engine = self.server.engine
        path, _, query = self.path.partition("?")
        status = 500
        mark = engine.trace_mark()
        try:
            req = Request(self.command, path, query, self.headers, self.rfile, self.connection, engine)
            resp = self._dispatch(req)
        except Exception as err:   # a bad header before dispatch
            req = None
            resp = json_response(error_body(err), status_for(err))
        status = resp.status
        try:
            self._send(req, resp)
        finally:
            ms = (time.monotonic() - t0) * 1000
            LOG.info('"%s %s" %s %.1fms', self.command, self.path, status, ms)
            engine.trace_request(f"{self.command} {path}", mark)

    def _dispatch(self, req: Request) -> Response:
        try:
            m = VERSIONED.match(req.path)
            if m:
                req.api_version = check_version(m.group(1), m.group(2))
                req.path = m.group(3)
            found = match(req.method, req.path) or (match("GET", req.path) if req.method == "HEAD" else None)
            if found is None:
                raise HTTPError(404, "page not found")
            r, req.params = found
            req.max_body = r.max_body
            resp = r.handler(req)
            if isinstance(resp, (dict, list)):
                resp = json_response(resp)
            return resp
        except Exception as err:
            status = status_for(err)
            if status >= 500:
                LOG.warning("%s %s failed: %s", req.method, req.path, "".join(
                    traceback.format_exception(type(err), err, err.__traceback__)).rstrip())
            else:
                LOG.debug("%s %s: %s %s", req.method, req.path, status, err)
            return json_response(error_body(err), status)

    def version_string(self) -> str:
        from .. import __version__
        return f"minicontainer-engine/{__version__}"

    def _common_headers(self, own: dict) -> None:
        from .ping import API_VERSION
        for key, value in (("Api-Version", API_VERSION), ("Docker-Experimental", "false"), ("OSType", "linux")):
            if key not in own:
                self.send_header(key, value)

    def _send(self, req: Request | None, resp: Response) -> None:
        if req is not None and not req.body_consumed():
            try:
                req.drain_small()
            except OSError as err:
                LOG.debug("could not drain the request body: %s", err)
        if req is None or not req.body_consumed():
            self.close_connection = True     # an unread body would be read as the next request
        if resp.hijack is not None:
            return self._hijack(resp)
        body = resp.body
        bare = self.command == "HEAD" or resp.status in (204, 304)
        self.send_response(resp.status)
        self._common_headers(resp.headers)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        if body is None or isinstance(body, (bytes, bytearray)):
            if "Content-Length" not in resp.headers and resp.status not in (204, 304):
                self.send_header("Content-Length", str(len(body or b"")))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if body and not bare:
                self._write(body)
            return
        chunked = self.request_version == "HTTP/1.1"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        self.end_headers()
        try:
            for chunk in body:
                if chunk and not bare:
                    self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                self._write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionError):
            self.close_connection = True     # the client left mid-stream: stop producing
        except Exception as err:
            LOG.warning("stream of %s %s failed after its headers: %s", self.command, self.path, err)
            self.close_connection = True
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _hijack(self, resp: Response) -> None:
        upgrade = "upgrade" in (self.headers.get("Connection") or "").lower()
        self.close_connection = True
        head = ["HTTP/1.1 101 UPGRADED" if upgrade else "HTTP/1.1 200 OK",
                f"Content-Type: {resp.headers.get('Content-Type', 'application/vnd.docker.raw-stream')}"]
        if upgrade:
            head += ["Connection: Upgrade", "Upgrade: tcp"]
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
            self.wfile.flush()
        except (BrokenPipeError, ConnectionError):
            return
        try:
            resp.hijack(Hijacked(self.connection, self.rfile))
        except Exception as err:
            LOG.warning("hijacked %s %s failed: %s", self.command, self.path, "".join(
                traceback.format_exception(type(err), err, err.__traceback__)).rstrip())
        finally:
            try:   # wakes any thread still reading the connection, so closing it cannot block
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EngineServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, sock_path: Path, engine: Engine):
        self.engine = engine
        socketserver.UnixStreamServer.__init__(self, str(sock_path), _Handler, bind_and_activate=False)

    def handle_error(self, request, client_address) -> None:
        LOG.debug("connection error: %s", traceback.format_exc().rstrip())


def parse_host(host: str | None) -> Path:
    """``-H unix:///PATH`` (or a bare path); anything else is refused: no TCP listener."""
    if not host:
        return paths.engine_socket()
    from ..hostaddr import unix_socket
    return Path(unix_socket(host, "engine"))


def _claim(sock_path: Path) -> int:
    """Take the engine lock next to the socket and remove a stale socket; ConflictError if one is live."""
    sock_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    lock_path = sock_path.with_name(sock_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        raise ConflictError("another engine is serving this socket", op="engine", path=sock_path) from err
    try:
        if sock_path.exists() or sock_path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(1.0)
                probe.connect(str(sock_path))
            except OSError as err:
                if err.errno not in (errno.ECONNREFUSED, errno.ENOTSOCK, errno.ENOENT):
                    raise
                LOG.info("taking over the stale socket %s", sock_path)
                sock_path.unlink(missing_ok=True)
            else:
                raise ConflictError("another server is listening on this socket", op="engine", path=sock_path)
            finally:
                probe.close()
    except BaseException:
        os.close(fd)
        raise
    return fd


def _set_access(sock_path: Path) -> None:
    """Mode 0660 and the ``minicontainer`` group where one exists: being able to connect is root-equivalent."""
    os.chmod(sock_path, 0o660)
    try:
        gid = grp.getgrnam(SOCKET_GROUP).gr_gid
    except KeyError:
        return
    try:
        os.chown(sock_path, -1, gid)
    except PermissionError as err:
        LOG.warning("cannot give the socket to group %s: %s", SOCKET_GROUP, err)


class Listener:
    """A bound, listening engine (``with Listener(path, engine) as l: l.serve_until(event)``)."""

    def __init__(self, sock_path: Path, engine: Engine):
        self.path = Path(sock_path)
        self.engine = engine
        load_routes()
        self._lock = _claim(self.path)
        try:
            self.server = EngineServer(self.path, engine)
            old = os.umask(0o117)
            try:
                self.server.server_bind()
            finally:
                os.umask(old)
            _set_access(self.path)
            self.server.server_activate()
        except BaseException:
            self.path.unlink(missing_ok=True)
            os.close(self._lock)
            raise

    def serve_until(self, stop: threading.Event) -> None:
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="engine-accept", daemon=True)
        thread.start()
        try:
            while not stop.wait(0.5):
                if not thread.is_alive():
                    break
        finally:
            self.server.shutdown()
            thread.join(5)

    def close(self) -> None:
        self.server.server_close()
        self.path.unlink(missing_ok=True)
        os.close(self._lock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(host: str | None = None, state_root=None, *, trace: bool = False) -> int:
    """Run an engine in the foreground until SIGTERM or SIGINT; the socket is removed on the way out."""
    sock_path = parse_host(host)
    engine = Engine(state_root, trace=trace)
    stop = threading.Event()

    def on_signal(signum, _frame):
        LOG.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with Listener(sock_path, engine) as listener:
            LOG.info("engine listening on unix://%s (state root %s)", sock_path, engine.root)
            listener.serve_until(stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    LOG.info("engine stopped")
    return 0

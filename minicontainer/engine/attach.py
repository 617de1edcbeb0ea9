"""Streams of a container: attach (a hijacked connection), logs, and detach keys.

Without a terminal, stdout and stderr share one connection, so each piece of output is
framed: an 8-byte header ``[stream, 0, 0, 0, size (4 bytes, big endian)]`` then ``size``
bytes; stream 1 is stdout, 2 stderr (moby api, "Attach to a container"). With a
terminal there is only one stream (the pty merges them) and bytes go through raw.

Every container runs under its monitor (mc-monitor), whatever happens to the engine, so an
attach only connects two things the monitor keeps:

- its output: the attach follows the container's log from the moment of the attach
  (:func:`minicontainer.runtime.watch.output`), so any number of clients can watch;
- its stdin, for a container created with ``OpenStdin``: the monitor's attach socket
  (:func:`minicontainer.runtime.watch.connect_stdin`). Bytes the client sends go there;
  the client's end-of-file closes the container's stdin if it was created with
  ``StdinOnce`` (``docker run -i``), and leaves it open for the next attach otherwise
  (``docker run -dit``). The detach keys (``detachKeys``, default ctrl-p ctrl-q) end the
  attach and leave the container running, as dockerd does.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
import threading

from ..errors import StateError, UsageError
from ..runtime.logs import read_log, to_epoch
from ..runtime.state import Status
from .routes import hijack, raw_stream, route

HEADER = struct.Struct(">BxxxL")
WAITING = (Status.CREATED, Status.RUNNING, Status.PAUSED)
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def frame(stream: int, data: bytes) -> bytes:
    return HEADER.pack(stream, len(data)) + data


def _current(req):
    rt = req.engine.runtime
    return rt, rt.refresh(rt.containers.get(req.params["id"]))


def detach_keys(spec: str) -> bytes:
    """Docker's detach-key syntax (``ctrl-p,ctrl-q``; a letter, ``ctrl-@`` ... ``ctrl-_``) as bytes."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6 and "@" <= key[5].upper() <= "_":
            out.append(ord(key[5].upper()) - 64)
        else:
            raise UsageError(f"invalid detach keys ({spec}): {key!r} is not a character or ctrl-X", op="attach")
    return bytes(out)


class Escape:
    """Watches a byte stream for the detach keys: what precedes them passes, the keys do not."""

    def __init__(self, keys: bytes):
        self.keys, self.held = keys, b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether the keys were seen)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys and self.keys.startswith(candidate):
                if candidate == self.keys:
                    return bytes(out), True
                self.held = candidate
            else:
                out += candidate
                self.held = b""
        return bytes(out), False


@route("POST", "/containers/{id}/attach")
def attach(req):
    rt, c = _current(req)
    if c.state not in WAITING:
        raise StateError(f"you cannot attach to a stopped container {c.name}, start it first", op="attach")
    tty = c.tty
    wanted = {1: req.flag("stdout"), 2: req.flag("stderr")}
    keys = detach_keys(req.arg("detachKeys") or DEFAULT_DETACH_KEYS)
    stdin = req.flag("stdin") and c.interactive
    from ..runtime.watch import open_log, output
    log = open_log(c)       # now: what is written from here on is ours, even if --rm removes the file
    if req.flag("logs"):
        log.seek(0)
    if not req.flag("stream", True):
        log.close()
        return raw_stream(_frames(read_log(c.dir), tty, wanted, False), _content_type(req, tty))

    def follow(conn):
        detached = threading.Event()
        feed = _relay_stdin if stdin else _drain
        threading.Thread(target=feed, args=(rt, c, conn, Escape(keys), detached), daemon=True,
                         name=f"stdin-{c.short_id}").start()
        stop = lambda: detached.is_set() or conn.gone()     # noqa: E731
        for chunk in _frames(output(rt, c, log, stop=stop), tty, wanted, False):
            if detached.is_set() or not conn.write(chunk):
                break
    return hijack(follow, _content_type(req, tty))


def _content_type(req, tty: bool) -> str:
    return "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"


def _drain(rt, c, conn, escape: Escape, detached: threading.Event) -> None:
    """Read (and drop) what the client sends a container that has no stdin, minding the detach keys."""
    while data := conn.read(65536):
        if escape.feed(data)[1]:
            detached.set()
            return


def _relay_stdin(rt, c, conn, escape: Escape, detached: threading.Event) -> None:
    """Copy the client's bytes to the container's stdin until its end-of-file or the detach keys."""
    from ..runtime.watch import connect_stdin
    sock = connect_stdin(rt, c, stop=lambda: detached.is_set() or conn.gone())
    if sock is None:                    # it ended before it listened: nothing reads any more
        return _drain(rt, c, conn, escape, detached)
    try:
        while data := conn.read(65536):
            data, seen = escape.feed(data)
            if data:
                sock.sendall(data)
            if seen:
                detached.set()
                return
    except OSError as err:              # the container (and its monitor) ended meanwhile
        from .. import log
        log.swallowed("attach", f"send to {c.short_id}'s stdin", err)
    finally:
        try:
            sock.shutdown(socket.SHUT_WR)   # end-of-file: StdinOnce closes the stdin
        except OSError:
            pass
        sock.close()


def _frames(records, tty: bool, wanted: dict, timestamps: bool):
    for rec in records:
        stream = 2 if rec.get("stream") == "stderr" else 1
        if not wanted.get(stream):
            continue
        data = rec["log"].encode()
        if timestamps:
            data = rec.get("time", "").encode() + b" " + data
        yield data if tty else frame(stream, data)


def resize_tty(rt, c, height: int, width: int) -> None:
    """Set the window size of a container's terminal through its PID 1's end of the pty."""
    if c.state not in (Status.RUNNING, Status.PAUSED):
        raise StateError(f"container {c.name} is not running", op="resize")
    if not c.tty:
        raise StateError(f"container {c.name} has no terminal", op="resize")
    set_winsize(str(rt.proc_root / str(c.pid) / "fd" / "0"), height, width)


def set_winsize(path_or_fd, height: int, width: int) -> None:
    """TIOCSWINSZ (ioctl_tty(2)): the kernel sends SIGWINCH to the terminal's foreground group."""
    own = not isinstance(path_or_fd, int)
    fd = os.open(path_or_fd, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK) if own else path_or_fd
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    finally:
        if own:
            os.close(fd)


@route("GET", "/containers/{id}/logs")
def logs(req):
    from ..runtime import logs as lib
    rt, c = _current(req)
    wanted = {1: req.flag("stdout"), 2: req.flag("stderr")}
    if not any(wanted.values()):
        raise _usage("you must choose at least one stream (stdout=1 or stderr=1)")
    since = req.arg("since")
    since = lib.parse_since(since) if since not in (None, "", "0") else None
    until = req.arg("until")
    until = lib.parse_since(until) if until not in (None, "", "0") else None
    tail = req.arg("tail", "all")
    tail = None if tail in ("all", "", None) else _int(tail)
    tty = c.tty
    if req.flag("follow"):
        records = lib.follow(rt, c, since, tail, stop=req.disconnected)
    else:
        records = iter(lib.read_log(c.dir, since, tail))
    if until is not None:
        records = (r for r in records if to_epoch(r["time"]) <= until)
    return raw_stream(_frames(records, tty, wanted, req.flag("timestamps")), _content_type(req, tty))


def _usage(text: str):
    return UsageError(text, op="logs")


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        raise _usage(f"invalid tail value {text!r}") from None


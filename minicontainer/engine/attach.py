"""Streams of a container: attach (a hijacked connection), logs, and starting attached.

Without a terminal, stdout and stderr share one connection, so each piece of output is
framed: an 8-byte header ``[stream, 0, 0, 0, size (4 bytes, big endian)]`` then ``size``
bytes; stream 1 is stdout, 2 stderr (moby api, "Attach to a container"). With a
terminal there is only one stream (the pty merges them) and bytes go through raw.

Two ways a container's output reaches an attached client:

- a container without ``OpenStdin`` runs detached under its monitor, whatever happens to
  the engine; an attach follows its log from the moment of the attach
  (:func:`minicontainer.runtime.watch.output`);
- a container with ``OpenStdin`` whose client attached stdin before ``start`` is run
  attached by the engine: the connection itself becomes its stdin (and, with a tty,
  the other side of its pseudo-terminal). Such a container lives as long as the engine
  (as ``minicontainer run -i`` lives as long as the CLI).
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading

from ..errors import StateError
from ..runtime.lifecycle import GONE
from ..runtime.logs import read_log, to_epoch
from ..runtime.state import Status
from .routes import hijack, raw_stream, route

HEADER = struct.Struct(">BxxxL")
WAITING = (Status.CREATED, Status.RUNNING, Status.PAUSED)


def frame(stream: int, data: bytes) -> bytes:
    return HEADER.pack(stream, len(data)) + data


class Slot:
    """An attach with stdin, waiting for the container's start to hand it the connection."""

    def __init__(self):
        self.conn = None
        self.ready = threading.Event()      # the connection is here
        self.done = threading.Event()       # the container's run has ended
        self.pipes: tuple[int, int] | None = None


def _current(req):
    rt = req.engine.runtime
    return rt, rt.refresh(rt.containers.get(req.params["id"]))


@route("POST", "/containers/{id}/attach")
def attach(req):
    rt, c = _current(req)
    if c.state not in WAITING:
        raise StateError(f"you cannot attach to a stopped container {c.name}, start it first", op="attach")
    tty = bool(c.config.get("tty"))
    wanted = {1: req.flag("stdout"), 2: req.flag("stderr")}
    if req.flag("stdin") and c.config.get("interactive") and c.state is Status.CREATED:
        slot = Slot()
        with req.engine.lock:
            req.engine.attachments[c.id] = slot

        def interactive(conn):
            slot.conn = conn
            slot.ready.set()
            slot.done.wait()
            if slot.pipes is not None:
                _pump(conn, slot.pipes, tty, wanted)
        return hijack(interactive, _content_type(req, tty))
    from ..runtime.watch import output, open_log
    log = open_log(c)       # now: what is written from here on is ours, even if --rm removes the file
    if req.flag("logs"):
        log.seek(0)
    if not req.flag("stream", True):
        log.close()
        return raw_stream(_frames(read_log(c.dir), tty, wanted, False), _content_type(req, tty))

    def follow(conn):
        threading.Thread(target=_drain, args=(conn,), daemon=True).start()
        for chunk in _frames(output(rt, c, log, stop=conn.gone), tty, wanted, False):
            if not conn.write(chunk):
                break
    return hijack(follow, _content_type(req, tty))


def _content_type(req, tty: bool) -> str:
    return "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"


def _drain(conn) -> None:
    """Read (and drop) what the client sends a container that has no stdin."""
    while conn.read(65536):
        pass


def _frames(records, tty: bool, wanted: dict, timestamps: bool):
    for rec in records:
        stream = 2 if rec.get("stream") == "stderr" else 1
        if not wanted.get(stream):
            continue
        data = rec["log"].encode()
        if timestamps:
            data = rec.get("time", "").encode() + b" " + data
        yield data if tty else frame(stream, data)


def _pump(conn, pipes: tuple[int, int], tty: bool, wanted: dict) -> None:
    """Frame the output of a container run attached until both its pipes are closed."""
    streams = {pipes[0]: 1, pipes[1]: 2}
    try:
        while streams:
            ready, _, _ = select.select(list(streams), [], [])
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    del streams[fd]
                elif wanted.get(streams[fd]):
                    conn.write(data if tty else frame(streams[fd], data))
    finally:
        for fd in pipes:
            os.close(fd)


def start_container(engine, c) -> None:
    """Start ``c``: attached to a waiting stdin attach, or in the background under its monitor."""
    with engine.lock:
        slot = engine.attachments.pop(c.id, None)
    if slot is None or not slot.ready.wait(10):
        engine.start(c.id)
        return
    sock = slot.conn.fileno()
    tty = bool(c.config.get("tty"))
    if tty:
        streams, ours = {"stdin": sock, "stdout": sock}, ()
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        slot.pipes = (out_r, err_r)
        streams, ours = {"stdin": sock, "stdout": out_w, "stderr": err_w}, (out_w, err_w)
    failure: list[BaseException] = []
    finished = threading.Event()
    engine.codes[c.id] = None     # a wait for this container waits for the code from run() below

    def run():
        try:
            result = engine.start(c.id, attach=True, **streams)
            engine.codes[c.id] = result.exit_code
        except BaseException as err:   # reported to the start request below, or logged
            failure.append(err)
            engine.codes[c.id] = getattr(err, "exit_code", 125)
        finally:
            for fd in ours:
                os.close(fd)
            finished.set()
            slot.done.set()
    threading.Thread(target=run, name=f"run-{c.short_id}", daemon=True).start()
    rt = engine.runtime
    while not finished.wait(0.01):     # answer the start once the container runs (or failed to)
        try:
            if rt.containers.load(c.id).state is not Status.CREATED:
                return
        except GONE:        # removed meanwhile: the run thread has the story
            continue
    if failure:
        raise failure[0]


def resize_tty(rt, c, height: int, width: int) -> None:
    """Set the window size of a container's terminal through its PID 1's end of the pty."""
    if c.state not in (Status.RUNNING, Status.PAUSED):
        raise StateError(f"container {c.name} is not running", op="resize")
    if not c.config.get("tty"):
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
    tty = bool(c.config.get("tty"))
    if req.flag("follow"):
        records = lib.follow(rt, c, since, tail, stop=req.disconnected)
    else:
        records = iter(lib.read_log(c.dir, since, tail))
    if until is not None:
        records = (r for r in records if to_epoch(r["time"]) <= until)
    return raw_stream(_frames(records, tty, wanted, req.flag("timestamps")), _content_type(req, tty))


def _usage(text: str):
    from ..errors import UsageError
    return UsageError(text, op="logs")


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        raise _usage(f"invalid tail value {text!r}") from None


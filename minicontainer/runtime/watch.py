"""Watching a container from another process: its output from now on, its next exit.

This is what ``docker attach`` and ``docker wait`` need from a runtime whose containers
are run by a monitor (mc-monitor) rather than by the process asking. Nothing here talks
to the container: the monitor appends each line of output to ``container.log`` (Docker's
json-file format, see :mod:`.logs`) and writes the exit status to ``exit``; a watcher
only reads those files and the container's record, polling, so any number of watchers
(the CLI, the engine, a notebook) can watch one container at once.

A container started with ``--rm`` disappears, directory and log included, right after
it exits. A watcher therefore opens the log *before* the start (creating it empty if
need be: the monitor opens it with O_APPEND and so writes to the same file) and keeps the
descriptor: a removed file stays readable through an open descriptor (unlink(2)).
"""

from __future__ import annotations

import json
import os
import select
import time

from ..errors import MiniContainerError
from .lifecycle import GONE
from .logs import LOG_FILE
from .state import Status

POLL = 0.02
LIVE = (Status.RUNNING, Status.PAUSED)


def _record(rt, cid: str):
    try:
        return rt.refresh(rt.containers.load(cid))
    except GONE:
        return None


def open_log(c):
    """The container's log, opened now (created empty if the container never ran), at its end."""
    fd = os.open(c.dir / LOG_FILE, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
    f = os.fdopen(fd, "rb")
    f.seek(0, os.SEEK_END)
    return f


def output(rt, c, log, stop=lambda: False):
    """Yield the log records written from ``log``'s position on, until the container has run and
    exited (or was removed, or ``stop()`` says so). A container that is only created is waited for."""
    pending = b""
    try:
        while True:
            rec = _record(rt, c.id)
            ended = rec is None or rec.state not in LIVE + (Status.CREATED,)
            chunk = log.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(item, dict) and "log" in item:
                        yield item
                continue
            if ended or stop():
                return
            time.sleep(POLL)
    finally:
        log.close()


def connect_stdin(rt, c, stop=lambda: False):
    """A socket to ``-i`` container ``c``'s standard input: its monitor's attach socket, waited for
    while the container is created or starting (None if it ended first, or ``stop()`` says so).

    What is sent there reaches the container's stdin; shutting down the sending side
    (shutdown(2), SHUT_WR) is an end-of-file, which closes that stdin when the container was
    created with StdinOnce. The socket's path may be longer than a unix address allows
    (unix(7): 108 bytes), so it is reached through an O_PATH descriptor of its directory.
    """
    import socket
    from ..monitor import ATTACH_SOCKET
    while True:
        rec = _record(rt, c.id)
        if rec is None or rec.state not in LIVE + (Status.CREATED,) or stop():
            return None
        if (c.dir / ATTACH_SOCKET).exists():
            dirfd = os.open(c.dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(rt.proc_root / "self" / "fd" / str(dirfd) / ATTACH_SOCKET))
                return sock
            except OSError as err:    # the container ended meanwhile (or the monitor is not listening yet)
                sock.close()
                from .. import log
                log.swallowed("attach", f"connect to {c.short_id}'s stdin", err)
            finally:
                os.close(dirfd)
        time.sleep(POLL)


def next_exit(rt, c, condition: str = "not-running", stop=lambda: False, known_codes=None):
    """Wait as ``docker wait --condition``: ``not-running`` (return at once if it is not running),
    ``next-exit`` (the end of the next run, waiting for a start if it is created) or ``removed``.
    The exit code, or None if ``stop()`` ended the wait. ``known_codes`` maps a container id to an
    exit code recorded elsewhere (a container removed before its exit could be read), or to None
    while that code is still to come."""
    first = _record(rt, c.id)
    started = first.started_at if first else 0.0
    last = first
    while True:
        rec = _record(rt, c.id)
        if rec is not None:
            last = rec
        live = rec is not None and rec.state in LIVE
        if condition == "removed":
            done = rec is None
        elif condition == "next-exit":
            done = rec is None or (not live and rec.state is not Status.CREATED and
                                   (first is None or first.state in LIVE + (Status.CREATED,) or
                                    (rec.started_at, rec.finished_at) != (started, first.finished_at)))
        else:
            done = not live
        pending = known_codes is not None and c.id in known_codes and known_codes[c.id] is None
        if done and not pending:   # (pending: the process running it has not reported the code yet)
            code = (known_codes or {}).get(c.id)
            if code is None and last is not None and last.exit_code is not None:
                code = last.exit_code
            return 0 if code is None else code
        if stop():
            return None
        time.sleep(POLL)


def reap_when_exited(rt, cid: str, settle: float = 2.0) -> int | None:
    """Block until ``--rm`` container ``cid``'s PID 1 exits, then remove it from this process.

    For a long-lived process such as the engine: the monitor's own cleanup command is a fresh
    Python interpreter (about a tenth of a second before it can act), while a warm process
    learns of the exit at once through a pidfd (pidfd_open(2): readable when the process has
    exited, whoever its parent is) and removes the container as soon as the monitor has
    written the exit status; the cleanup command then finds it gone. Only ``--rm`` containers:
    the exit of any other is readable as soon as the status is written (:meth:`Runtime.refresh`).
    The exit code, when this call removed the container; None when it left the job to the monitor.
    """
    from ..monitor import read_exit
    from . import reaper
    from .processes import exit_code
    try:
        c = rt.containers.load(cid)         # as stored: refresh() would already zero a quick exit's PID
    except GONE:
        return None
    if not c.config.get("rm") or not c.pid or not c.monitor_pid:
        return None
    exit_file = c.dir / "exit"
    try:
        fd = rt.sys.pidfd_open(c.pid, "learn of PID 1's exit at once, to remove the container from a warm process")
    except MiniContainerError:     # gone already (a quick command): its exit status is on its way
        fd = None
    if fd is not None:
        try:                       # (a bounded wait: the PID may have been reused by then)
            while not select.select([fd], [], [], 0.5)[0] and not exit_file.exists():
                if not c.dir.exists():
                    return None
        finally:
            os.close(fd)
    deadline = time.monotonic() + settle
    while not exit_file.exists():      # the monitor writes it once it has wait(2)ed for PID 1
        if time.monotonic() > deadline or not c.dir.exists():
            return None
        time.sleep(0.001)
    status = read_exit(exit_file)
    if status is None:
        return None
    reaper.reap(str(rt.root), cid, monitor_pid=c.monitor_pid)
    return exit_code(status)

"""A message channel between the runtime and the processes it forks.

A ``socketpair(AF_UNIX, SOCK_SEQPACKET)`` (unix(7)) keeps message boundaries, can carry
file descriptors (SCM_RIGHTS: the container hands its pseudo-terminal to the runtime this
way), and tells the reader when every writer is gone: the container's end is
close-on-exec, so the runtime reads end-of-file at the exact moment ``execve`` succeeds.

Every forked helper (the monitor, PID 1, exec's joiner, the copy helper) reports a failure
the same way: one ``error`` message (:func:`report_error`) that the parent turns back into
the same kind of exception (:func:`reported_error`). :func:`run_in_child` is that protocol
for a helper that only computes one answer.
"""

from __future__ import annotations

import json
import os
import socket

from ..errors import ConflictError, ExecError, MiniContainerError, NotFoundError, StateError, UsageError

#: the error kinds that cross the channel as themselves (any other arrives as MiniContainerError)
KINDS = {cls.__name__: cls for cls in (UsageError, NotFoundError, ConflictError, StateError)}

MAX_MESSAGE = 65536


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # both close-on-exec
        return cls(a), cls(b)

    def send(self, msg: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def recv(self) -> tuple[dict | None, list[int]]:
        """The next message and any file descriptors it carried; ``(None, [])`` at end-of-file."""
        data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
        if not data:
            return None, list(fds)
        return json.loads(data), list(fds)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def report_error(chan: Channel, err: BaseException) -> None:
    """Tell the parent, over ``chan``, why this process is about to exit (one message)."""
    message = str(err) if isinstance(err, MiniContainerError) else (str(err) or type(err).__name__)
    try:
        chan.send({"type": "error", "message": message, "exit_code": getattr(err, "exit_code", 125),
                   "kind": type(err).__name__})
    except OSError:
        pass   # the parent is gone: nobody is left to tell, and a forked helper has no log of its own


def reported_error(msg: dict, op: str | None = None) -> MiniContainerError:
    """The exception an ``error`` message stands for: Docker's 126/127 as ExecError, a usage,
    not-found, conflict or state error as itself, anything else as MiniContainerError (whose
    message names its operation already; ``op`` prefixes one)."""
    code = msg.get("exit_code", 125)
    if code in (126, 127):
        return ExecError(msg["message"], exit_code=code)
    err = KINDS.get(msg.get("kind"), MiniContainerError)(msg["message"], op=op)
    err.exit_code = code
    return err


def run_in_child(sys, why: str, job):
    """Fork (through ``sys``), run ``job()`` in the child, and return its JSON-able answer
    here, or raise the child's error as :func:`reported_error` does. The child never returns."""
    parent, child = Channel.pair()
    try:
        pid = sys.fork(why)
    except BaseException:
        parent.close(); child.close()
        raise
    if pid == 0:
        parent.close()
        code, failure = 1, None
        try:
            answer = job()
            child.send({"type": "result", "value": answer})   # one message: SEQPACKET keeps it whole
            code = 0
        except BaseException as err:  # noqa: BLE001 - sent to the parent, which raises it
            failure = err
            report_error(child, err)
        finally:
            sys.exit(code, failure)
    child.close()
    try:
        msg, _ = parent.recv()
    finally:
        parent.close()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    if msg and msg.get("type") == "result":
        return msg["value"]
    raise reported_error(msg or {"message": "the helper died before it answered", "exit_code": 125})

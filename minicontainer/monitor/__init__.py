"""The monitor that stays with a detached container (``run -d``).

A process can only wait(2) for its own children, and the container's PID 1 is a child of
the runtime's monitor process. For a detached container that monitor must outlive the
command that started it, keep the container's output, and notice the exit. Doing that
in a full Python interpreter costs megabytes per container, so after the namespaces are
made the monitor execve(2)s ``mc-monitor`` (a small C program, built by ``make`` from
``mc-monitor.c``), which keeps the same PID and so stays PID 1's parent. Where no C
compiler was available the same loop runs in Python (:func:`python_monitor`).

When PID 1 exits the monitor writes its wait status to the container's ``exit`` file
and execs the cleanup command: ``python -m minicontainer.runtime.reaper ROOT ID``.

A container run with ``-i`` keeps a standard input: the monitor holds its writing end and
listens on ``attach.sock`` in the container's directory; whatever a client writes there
reaches the container's stdin (``docker attach``, an engine's attach with ``stdin=1``).
Output does not go through that socket: an attach follows the log, which any number of
watchers can read (:mod:`minicontainer.runtime.watch`).
"""

from __future__ import annotations

import json
import os
import select
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KernelError

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "mc-monitor.c"
BINARY = HERE / "mc-monitor"
ATTACH_SOCKET = "attach.sock"     # in the container's directory, for a container run with -i


@dataclass
class DetachSpec:
    """What the detached monitor needs: where to write the exit status and logs, and what to run after."""

    exit_file: str
    log_file: str
    cleanup_argv: list[str]
    binary: str | None = None
    extra: dict = field(default_factory=dict)
    attach_socket: str | None = None   # -i: where clients reach the container's stdin
    stdin_once: bool = False           # the first client's end-of-file closes that stdin (docker run -i)


def binary() -> str | None:
    """The compiled monitor, if ``make`` built it (and it is not older than its source)."""
    try:
        if BINARY.stat().st_mtime >= SOURCE.stat().st_mtime and os.access(BINARY, os.X_OK):
            return str(BINARY)
    except OSError:
        pass
    return None


def build(cc: str = "cc") -> Path:
    """Compile mc-monitor.c next to itself (``make`` calls this through ``python -m``)."""
    import subprocess
    tmp = BINARY.with_suffix(".tmp")
    subprocess.run([cc, "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], check=True)
    os.replace(tmp, BINARY)
    return BINARY


def hand_over(sys, spec: DetachSpec, pid: int, out_fd: int, err_fd: int, in_fd: int = -1,
              tty: bool = False) -> None:
    """Become the container's monitor; never returns. ``in_fd`` is the writing end of the
    container's stdin (with ``tty`` the pty master, which is ``out_fd`` too), or -1."""
    options = ["--tty"] if tty else []
    if in_fd >= 0 and spec.attach_socket:
        options += ["--stdin", str(in_fd), spec.attach_socket] + (["--stdin-once"] if spec.stdin_once else [])
    argv = [str(pid), spec.exit_file, spec.log_file, str(out_fd), str(err_fd), *options, "--", *spec.cleanup_argv]
    if spec.binary:
        for fd in (out_fd, err_fd, in_fd):
            if fd >= 0:
                os.set_inheritable(fd, True)
        try:
            sys.execve(spec.binary, ["mc-monitor", *argv], dict(os.environ), "become mc-monitor, the small "
                       "process that stays with the container")
        except KernelError as err:   # fall back to the same loop in Python
            from .. import log
            log.swallowed("monitor", "exec mc-monitor (monitoring in Python instead)", err, path=spec.binary)
    # no exec here, so close-on-exec closes nothing: drop what the parent held (an engine's
    # listening socket and its lock among them), as mc-monitor's exec would have
    _close_all_but({0, 1, 2, out_fd, err_fd, in_fd})
    python_monitor(pid, spec.exit_file, spec.log_file, out_fd, err_fd, tty=tty,
                   stdin=StdinRelay(in_fd, spec.attach_socket, spec.stdin_once, out_fd == in_fd)
                   if in_fd >= 0 and spec.attach_socket else None)
    sys.execve(spec.cleanup_argv[0], spec.cleanup_argv, dict(os.environ), "record the exit: the reaper")


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor not in ``keep`` (close_range(2) is the C spelling)."""
    low = 0
    for fd in sorted(fd for fd in keep if fd >= 0):
        if fd > low:     # never an empty range: CPython passes high - 1 to close_range(2), and 0 - 1 is ~0
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


class StdinRelay:
    """mc-monitor's stdin side in Python: a listening socket whose clients' bytes go to ``fd``."""

    def __init__(self, fd: int, path: str, once: bool, shared: bool):
        import socket
        self.fd, self.path, self.once, self.shared = fd, path, once, shared
        self.clients: list = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        old = os.umask(0o077)
        try:       # bind the last component from inside its directory: the path may exceed sun_path
            os.chdir(os.path.dirname(path))
            self.listener.bind(os.path.basename(path))
            self.listener.listen(16)
        finally:
            os.umask(old)
            os.fchdir(here)
            os.close(here)

    def readers(self) -> list:
        return [self.listener, *self.clients]

    def ready(self, sock) -> None:
        if sock is self.listener:
            self.clients.append(self.listener.accept()[0])
            return
        data = sock.recv(65536)
        if data and self.fd >= 0:
            try:
                os.write(self.fd, data)      # blocking: this fallback has no pending buffer
            except OSError:
                self._close_stdin()
            return
        if not data:
            sock.close()
            self.clients.remove(sock)
            if self.once and not self.shared:
                self._close_stdin()

    def _close_stdin(self) -> None:
        if self.fd >= 0 and not self.shared:
            os.close(self.fd)
        self.fd = -1

    def close(self) -> None:
        for sock in [self.listener, *self.clients]:
            sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self._close_stdin()


def _stamp() -> str:
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"


def python_monitor(pid: int, exit_file: str, log_file: str, out_fd: int, err_fd: int, *, tty: bool = False,
                   stdin: StdinRelay | None = None) -> None:
    """The monitor loop of mc-monitor.c, in Python: copy output to the log, relay stdin, then wait."""
    names = {out_fd: "stdout", err_fd: "stderr"}
    buffers = {fd: b"" for fd in names if fd >= 0}
    with open(log_file, "ab") as log:
        def emit(fd, chunk):
            text = chunk.decode(errors="replace")
            log.write(json.dumps({"log": text, "stream": names[fd], "time": _stamp()}).encode() + b"\n")
            log.flush()

        while buffers:
            ready, _, _ = select.select(list(buffers) + (stdin.readers() if stdin else []), [], [])
            for fd in ready:
                if fd not in buffers:
                    stdin.ready(fd)
                    continue
                try:
                    data = os.read(fd, 16384)
                except OSError:
                    data = b""
                if not data:
                    if buffers[fd]:
                        emit(fd, buffers[fd])
                    del buffers[fd]
                    if stdin is not None and stdin.shared and fd == out_fd:
                        stdin.fd = -1         # the pty master, closed here
                    os.close(fd)
                    continue
                buf = buffers[fd] + data
                *lines, rest = buf.split(b"\n")
                for line in lines:
                    emit(fd, line + b"\n")
                if tty and rest:              # a prompt has no newline: log it as it comes
                    emit(fd, rest)
                    rest = b""
                buffers[fd] = rest
    if stdin is not None:
        stdin.close()
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 255 << 8
    from ..records import write_atomic     # as mc-monitor.c does: a new file, then rename(2)
    write_atomic(exit_file, f"{status}\n".encode(), "cannot record the exit status", op="monitor",
                 durable=False, make_parent=False)


def read_exit(exit_file: Path) -> int | None:
    try:
        return int(Path(exit_file).read_text().strip())
    except (OSError, ValueError):
        return None

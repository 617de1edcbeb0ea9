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
"""

from __future__ import annotations

import json
import os
import select
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "mc-monitor.c"
BINARY = HERE / "mc-monitor"


@dataclass
class DetachSpec:
    """What the detached monitor needs: where to write the exit status and logs, and what to run after."""

    exit_file: str
    log_file: str
    cleanup_argv: list[str]
    binary: str | None = None
    extra: dict = field(default_factory=dict)


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


def hand_over(spec: DetachSpec, pid: int, out_fd: int, err_fd: int) -> None:
    """Become the container's monitor; never returns."""
    argv = [str(pid), spec.exit_file, spec.log_file, str(out_fd), str(err_fd), "--", *spec.cleanup_argv]
    if spec.binary:
        for fd in (out_fd, err_fd):
            if fd >= 0:
                os.set_inheritable(fd, True)
        try:
            os.execv(spec.binary, ["mc-monitor", *argv])
        except OSError:
            pass  # fall back to the same loop in Python
    python_monitor(pid, spec.exit_file, spec.log_file, out_fd, err_fd)
    os.execv(spec.cleanup_argv[0], spec.cleanup_argv)


def _stamp() -> str:
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"


def python_monitor(pid: int, exit_file: str, log_file: str, out_fd: int, err_fd: int) -> None:
    """The monitor loop of mc-monitor.c, in Python: copy output to the log, then wait."""
    names = {out_fd: "stdout", err_fd: "stderr"}
    buffers = {fd: b"" for fd in names if fd >= 0}
    with open(log_file, "ab") as log:
        def emit(fd, chunk):
            text = chunk.decode(errors="replace")
            log.write(json.dumps({"log": text, "stream": names[fd], "time": _stamp()}).encode() + b"\n")
            log.flush()

        while buffers:
            ready, _, _ = select.select(list(buffers), [], [])
            for fd in ready:
                try:
                    data = os.read(fd, 16384)
                except OSError:
                    data = b""
                if not data:
                    if buffers[fd]:
                        emit(fd, buffers[fd])
                    del buffers[fd]
                    os.close(fd)
                    continue
                buf = buffers[fd] + data
                *lines, rest = buf.split(b"\n")
                for line in lines:
                    emit(fd, line + b"\n")
                buffers[fd] = rest
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 255 << 8
    tmp = exit_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{status}\n")
    os.replace(tmp, exit_file)


def read_exit(exit_file: Path) -> int | None:
    try:
        return int(Path(exit_file).read_text().strip())
    except (OSError, ValueError):
        return None

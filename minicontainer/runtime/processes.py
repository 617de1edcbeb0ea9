"""The container's process as the runtime sees it: signals, exit status, liveness.

The runtime forwards the signals it receives to the container's PID 1 (as docker's
sig-proxy does), turns a wait(2) status into Docker's exit code (the code itself, or
128+N for a process killed by signal N), and tells a live PID from a reused one by the
process's start time in /proc/PID/stat (proc(5), field 22).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from ..kernel import send_signal  # noqa: F401 - kill(2) tolerating ESRCH, for the runtime's verbs
from . import launcher

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class SignalProxy:
    """Forward the runtime's signals to the container's PID 1 (as docker's sig-proxy).

    Installed before the container is started, so a signal that arrives while it starts
    is kept and delivered as soon as its PID is known, instead of killing the runtime.
    """

    def __init__(self, sys):
        self.sys = sys
        self.pid = 0
        self.pending: list[int] = []
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self   # a server's worker thread (the engine): its signals are not the container's
        for sig in FORWARDED_SIGNALS:
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:    # not the main thread (a server's worker): signals are not ours to take
                break
        return self

    def _handle(self, signum, _frame):
        if self.pid:
            send_signal(self.sys, self.pid, signum, "forward the runtime's signal to PID 1 (docker's sig-proxy)")
        else:
            self.pending.append(signum)

    def attach(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            send_signal(self.sys, pid, signum, "a signal that came while the container started, forwarded")
        self.pending.clear()

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def parse_signal(text: str | int) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9, as ``docker kill -s`` and ``runc kill`` accept them (signal(7))."""
    if isinstance(text, int):
        return text
    value = str(text).strip().upper()
    if value.isdigit():
        number = int(value)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = value if value.startswith("SIG") else "SIG" + value
        if hasattr(signal.Signals, name):
            return int(signal.Signals[name])
    from ..errors import UsageError
    raise UsageError(f"invalid signal: {text}", op="kill")


def wait_for_exit(started: launcher.Started, interactive: bool, stdio: dict[int, int] | None = None) -> int | None:
    """Relay a pty (between it and ``stdio``'s 0 and 1, default ours) until the exit; the wait status."""
    if started.pty_master is not None:
        from .tty import relay
        stdio = stdio or {}
        relay(started.pty_master, started.status_fd, interactive=interactive, stdin=stdio.get(0),
              stdout=stdio.get(1))
    return launcher.wait_status(started)


def exit_code(status: int | None) -> int:
    if status is None:
        return 125
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def start_ticks(proc_root: Path, pid: int) -> int:
    try:
        text = (proc_root / str(pid) / "stat").read_text()
        return int(text.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def alive(proc_root: Path, pid: int, start: int) -> bool:
    if not pid:
        return False
    ticks = start_ticks(proc_root, pid)
    return ticks != 0 and (start == 0 or ticks == start)

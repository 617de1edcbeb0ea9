"""``run -t``: relaying between the user's terminal and the container's pseudo-terminal.

A pseudo-terminal (pty(7)) is a pair: programs in the container see the *slave* as their
terminal (line editing, Ctrl-C turning into SIGINT, window size), while the runtime holds
the *master* and copies bytes between it and the user's own terminal. The pair comes
from the container's private devpts instance, so ``tty`` inside prints /dev/pts/0.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import tty

TIOCGWINSZ = termios.TIOCGWINSZ
TIOCSWINSZ = termios.TIOCSWINSZ


def copy_winsize(src_fd: int, dst_fd: int) -> None:
    try:
        size = fcntl.ioctl(src_fd, TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst_fd, TIOCSWINSZ, size)
    except OSError as err:      # not a terminal (any more): the pty keeps its size
        from .. import log
        log.swallowed("runtime", f"copy the window size from fd {src_fd} to fd {dst_fd}", err)


@contextlib.contextmanager
def raw_terminal(fd: int):
    """Put the user's terminal in raw mode (keys go to the container as typed)."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def relay(master: int, status_fd: int, *, interactive: bool, stdin: int | None = None,
          stdout: int | None = None) -> None:
    """Copy stdin -> master and master -> stdout until the container exits and its output is drained.

    ``status_fd`` becomes readable when the monitor reports the exit; it is not read here.
    """
    stdin = sys.stdin.fileno() if stdin is None else stdin
    stdout = sys.stdout.fileno() if stdout is None else stdout
    if os.isatty(stdin):
        copy_winsize(stdin, master)
        previous = signal.signal(signal.SIGWINCH, lambda *_: copy_winsize(stdin, master))
    else:
        previous = None
    readers = [master, status_fd] + ([stdin] if interactive else [])
    exited = False
    try:
        with raw_terminal(stdin) if interactive else contextlib.nullcontext():
            while master in readers:
                ready, _, _ = select.select(readers, [], [], 0.05 if exited else None)
                if not ready and exited:
                    break
                if status_fd in ready:
                    readers.remove(status_fd)
                    exited = True
                if master in ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError as err:  # EIO: every slave fd is closed
                        if err.errno != errno.EIO:
                            raise
                        data = b""
                    if not data:
                        readers.remove(master)
                    else:
                        _write_all(stdout, data)
                if stdin in ready:
                    data = os.read(stdin, 65536)
                    if data:
                        _write_all(master, data)
                    else:
                        readers.remove(stdin)
                        _write_all(master, b"\x04")  # end of input: ^D for the line discipline
    finally:
        os.close(master)
        if previous is not None:
            signal.signal(signal.SIGWINCH, previous)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]

"""A minimal init for ``run --init``: PID 1 that reaps zombies and forwards signals.

PID 1 is special (pid_namespaces(7)): from inside its namespace the kernel delivers it
only the signals it has a handler for (SIGKILL and SIGSTOP sent from an ancestor namespace,
the runtime's, arrive regardless), so a program that never expected to be PID 1 may ignore
Ctrl-C and ``stop``'s SIGTERM; and every orphaned process in the namespace is re-parented to it, so it must
wait(2) for them or they stay zombies. Docker's ``--init`` puts tini in front for this;
here the runtime's own (already loaded) Python process stays behind as PID 1 and the
command runs as its child, PID 2.
"""

from __future__ import annotations

import os
import signal

from ..kernel import send_signal

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def run_as_init(sys, path: str, argv: list[str], env: dict[str, str], chan) -> None:
    """Fork the command, then reap until it exits; exit with its code (128+N if killed by N)."""
    child = sys.fork("--init: the command runs as PID 2 under a minimal PID 1 that reaps and forwards")
    if child == 0:
        try:
            sys.execve(path, argv, env, "replace PID 2 with the container's command")
        except BaseException as err:
            sys.exit(126, err)
        sys.exit(126)
    chan.close()  # only the command's copy remains, closed by its execve
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: send_signal(sys, child, signum, "--init: forward to PID 2"))
    code = 0
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            break
    sys.exit(code)


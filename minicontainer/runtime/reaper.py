"""Record a detached container's exit: run by its monitor once PID 1 has exited.

``python -m minicontainer.runtime.reaper ROOT ID`` reads the wait status the monitor
wrote to ``<container>/exit``, asks the cgroup whether the kernel's OOM killer acted,
removes the cgroup, and saves the new state (or removes the container, for ``--rm``).
It takes the container's lock, so it never races a command that is changing it, and it acts
only on the run its monitor watched: a command that took the lock first may have recorded
the exit itself (:meth:`Runtime.settle`) and even started the container again.

It has no terminal (the monitor's standard streams are /dev/null): when a log level was set
for the command that started the container (``--log-level``, exported as
``$MINICONTAINER_LOG_LEVEL``), its debug log is appended to ``<root>/reaper.log``.
"""

from __future__ import annotations

import sys
import time

from .. import events
from ..errors import MiniContainerError, NotFoundError
from ..monitor import read_exit
from .processes import exit_code
from .runner import Runtime
from .state import Status


def reap(root: str, cid: str, monitor_pid: int | None = None) -> int:
    """Record the exit of the container's run; with ``monitor_pid``, only if that monitor's run is
    the one recorded (a watcher that saw the exit of a run acts on that run alone).

    Two may try for a ``--rm`` container: the monitor's own cleanup command (this module as a
    program) and an engine that watched the exit from its warm process
    (:func:`minicontainer.runtime.watch.reap_when_exited`). Under the container's lock the first
    removes it; the second finds it gone."""
    rt = Runtime(root)
    try:
        c = rt.containers.load(cid)
        with rt.containers.lock(c):
            c = rt.containers.load(cid)
            if monitor_pid is not None and c.monitor_pid != monitor_pid:
                return 0     # recorded already, or another run's
            remove = record_exit(rt, c)
    except NotFoundError:
        return 0  # removed meanwhile (rm -f): nothing left to record
    if remove:
        rt.containers.remove(c)
    return 0


def record_exit(rt: Runtime, c) -> bool:
    """Free the cgroup and network, save the exit; True when the container goes (--rm).
    Called with the container's lock held: by the reaper, by an engine that watched the exit,
    or by any verb that finds the exit written and not yet recorded (:meth:`Runtime.settle`)."""
    code = exit_code(read_exit(c.dir / "exit"))
    rt.disconnect_networks(c)
    cgroup = rt.cgroup_manager(c.id, rt.sys)
    oom = False
    try:
        oom = code == 137 and bool(cgroup.oom_killed())
        cgroup.remove()
    except MiniContainerError as err:
        from .. import log
        log.swallowed("runtime", f"reap {c.id[:12]}: remove cgroup", err)
    if oom:
        events.container(rt.root, c, "oom")
    events.container(rt.root, c, "die", exitCode=code)
    if c.config.get("rm"):
        return True
    c.status, c.exit_code, c.oom_killed = Status.EXITED.value, code, oom
    c.pid, c.monitor_pid, c.finished_at = 0, 0, time.time()
    rt.containers.save(c)
    return False


LOG_FILE = "reaper.log"


def configure_log(root: str) -> None:
    """With ``$MINICONTAINER_LOG_LEVEL`` set, send the debug log to ``<root>/reaper.log``."""
    import os
    from .. import log
    if not os.environ.get(log.ENV):
        return
    try:
        stream = open(os.path.join(root, LOG_FILE), "a", buffering=1)
    except OSError:
        return           # no state root to write to: the reap itself will say so
    log.configure(stream=stream)


if __name__ == "__main__":
    # the monitor execs us: our PID is the monitor's, which the record names for the run it watched
    # (a verb may have recorded this exit already, and a next run may be under way)
    import os
    configure_log(sys.argv[1])
    sys.exit(reap(sys.argv[1], sys.argv[2], monitor_pid=os.getpid()))

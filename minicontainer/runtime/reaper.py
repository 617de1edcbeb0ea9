"""Record a detached container's exit: run by its monitor once PID 1 has exited.

``python -m minicontainer.runtime.reaper ROOT ID`` reads the wait status the monitor
wrote to ``<container>/exit``, asks the cgroup whether the kernel's OOM killer acted,
removes the cgroup, and saves the new state (or removes the container, for ``--rm``).
It takes the container's lock, so it never races a command that is changing it.
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


def reap(root: str, cid: str) -> int:
    rt = Runtime(root)
    try:
        c = rt.containers.load(cid)
        with rt.containers.lock(c):
            c = rt.containers.load(cid)
            remove = _record_exit(rt, c)
    except NotFoundError:
        return 0  # removed meanwhile (rm -f): nothing left to record
    if remove:
        rt.containers.remove(c)
    return 0


def _record_exit(rt: Runtime, c) -> bool:
    """Free the cgroup and network, save the exit; True when the container goes (--rm)."""
    code = exit_code(read_exit(c.dir / "exit"))
    rt._disconnect(c)
    cgroup = rt._cgroup(c.id, rt.sys)
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


if __name__ == "__main__":
    from .. import log
    log.configure()      # $MINICONTAINER_LOG_LEVEL, exported by the runtime that started the container
    sys.exit(reap(sys.argv[1], sys.argv[2]))

"""One container and its verbs: start, exec, signal, stop, restart, wait, pause, resume,
rename, update, processes, destroy.

runc's libcontainer gives every engine one ``Container`` interface (Start, Run, Exec,
Signal, Pause, Resume, Destroy, State, Processes, Set); :class:`ContainerHandle` is ours,
and the CLI and the Engine API call it, nothing else (``Runtime.container(ref)`` makes one).
Each verb loads the container, asks the state machine (:mod:`.state`) whether it may
proceed, acts, and lets the monitor's reaper record the exit.

Signals go to the container's PID 1 as the host numbers it. From inside its own PID
namespace, PID 1 receives only the signals it has a handler for; from an ancestor namespace
(the runtime's) SIGKILL and SIGSTOP arrive regardless (pid_namespaces(7)). A shell as PID 1
has no SIGTERM handler, so ``stop`` falls back to SIGKILL after a grace period, exactly
as ``docker stop`` does.

Pausing uses the cgroup freezer (cgroup v1 ``freezer.state``, v2 ``cgroup.freeze``):
every task of the container stops being scheduled, without being sent any signal.
"""

from __future__ import annotations

import signal
import time

from .. import events, log
from ..errors import ConflictError, NotFoundError, StateError, UsageError
from . import names
from .containers import Container
from .processes import parse_signal
from .state import Status, require

POLL = 0.02
# what reading a container that was removed meanwhile (--rm, a concurrent rm) raises: its record is
# gone (NotFoundError), or its directory went while its exit file was being read
GONE = (NotFoundError, FileNotFoundError)


class ContainerHandle:
    """The verbs on one container of ``rt`` (found by id, name or unique id prefix)."""

    def __init__(self, rt, ref: str):
        self.rt = rt
        self.id = rt.containers.get(ref).id      # NotFoundError for an unknown reference

    # -- what it is ------------------------------------------------------------
    def state(self) -> Container:
        """The record, refreshed: an exit the monitor wrote shows at once (runc ``state``)."""
        return self.rt.refresh(self.rt.containers.load(self.id))

    def config(self):
        """Its config.json (the one config)."""
        return self.rt.containers.load(self.id).spec()

    def processes(self) -> list[int]:
        """The host PIDs in its cgroup (runc ``ps``)."""
        return sorted(self.rt.cgroup_manager(self.id, self.rt.sys).pids())

    # -- running it ------------------------------------------------------------
    def start(self, **kwargs):
        """Start it (detached, or ``attach=True`` with streams): :meth:`Runtime.start`."""
        return self.rt.start(self.id, **kwargs)

    def exec(self, argv: list[str], **kwargs) -> int:
        """One more process inside (:func:`minicontainer.runtime.exec.exec_in`); its exit code."""
        from .exec import exec_in
        return exec_in(self.rt, self.id, argv, **kwargs)

    def signal(self, sig: str | int = "KILL") -> Container:
        """Send ``sig`` (a name or a number) to PID 1 (``docker kill``, runc ``kill``)."""
        rt, signum = self.rt, parse_signal(sig)
        c = self.state()
        require(c.state, "kill", c.name)
        if c.state is Status.PAUSED and signum != signal.SIGKILL:
            raise StateError(f"container {c.name} is paused: only SIGKILL can reach it", op="kill")
        if c.state is Status.PAUSED:
            rt.cgroup_manager(c.id, rt.sys).thaw()  # a frozen task cannot act on SIGKILL until thawed
        events.container(rt.root, c, "kill", signal=signum)
        _send(rt, c, signum, "kill: the signal asked for, to PID 1")
        return c

    def stop(self, timeout: float = 10.0) -> Container:
        """The image's stop signal (default SIGTERM), then SIGKILL after ``timeout`` seconds."""
        rt, c = self.rt, self.state()
        if c.state is Status.PAUSED:
            raise StateError(f"cannot stop container {c.name}: container is paused, unpause it first", op="stop")
        if c.state is not Status.RUNNING:
            return c  # as docker: stopping a stopped container is not an error
        signum = parse_signal(c.config.get("stop_signal") or "SIGTERM")
        events.container(rt.root, c, "kill", signal=signum)
        _send(rt, c, signum, "stop: the image's stop signal to PID 1")
        done = wait_exit(rt, c, timeout)
        if done is None:
            events.container(rt.root, c, "kill", signal=int(signal.SIGKILL))
            _send(rt, c, signal.SIGKILL, f"stop: still running after {timeout:g} s")
            done = wait_exit(rt, c, 10.0)
        done = _settled(rt, done or c)
        events.container(rt.root, c, "stop")
        return done

    def restart(self, timeout: float = 10.0) -> Container:
        self.stop(timeout)
        self.rt.start(self.id)
        c = self.rt.containers.load(self.id)
        events.container(self.rt.root, c, "restart")
        return c

    def wait(self) -> int:
        """Block until it exits; its exit code."""
        done = _settled(self.rt, wait_exit(self.rt, self.rt.containers.load(self.id)))
        return done.exit_code if done.exit_code is not None else -1

    def wait_exit(self, timeout: float | None = None) -> Container | None:
        """Until it no longer runs (the record, or None after ``timeout`` seconds)."""
        return wait_exit(self.rt, self.rt.containers.load(self.id), timeout)

    def pause(self) -> Container:
        return self._set_frozen(True)

    def resume(self) -> Container:
        return self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> Container:
        rt = self.rt
        c = rt.containers.load(self.id)
        with rt.containers.lock(c):
            c = rt.settle(rt.containers.load(c.id))
            require(c.state, "pause" if frozen else "unpause", c.name)
            cgroup = rt.cgroup_manager(c.id, rt.sys)
            if frozen:
                cgroup.freeze()
            else:
                cgroup.thaw()
            c.status = (Status.PAUSED if frozen else Status.RUNNING).value
            rt.containers.save(c)
        events.container(rt.root, c, "pause" if frozen else "unpause")
        return c

    # -- changing it -----------------------------------------------------------
    def rename(self, new_name: str) -> Container:
        rt = self.rt
        if not names.valid_name(new_name):
            raise UsageError(f"invalid container name {new_name!r}", op="rename")
        c = rt.containers.load(self.id)
        with rt.containers.store_lock():
            if any(other.name == new_name for other in rt.containers.list() if other.id != c.id):
                raise ConflictError(f'the container name "{new_name}" is already in use', op="rename")
            with rt.containers.lock(c):
                c = rt.settle(rt.containers.load(c.id))
                old, c.name = c.name, new_name
                rt.containers.save(c)
        events.container(rt.root, c, "rename", oldName=f"/{old}")
        return c

    def update(self, limits) -> Container:
        """New cgroup limits, live and in config.json (runc ``update``, ``docker update``)."""
        from .update import update
        return update(self.rt, self.id, limits)

    def destroy(self, force: bool = False) -> Container:
        """Remove it, killing it first with ``force`` (runc ``delete``, ``docker rm``)."""
        return self.rt.remove(self.id, force=force)


def _send(rt, c: Container, signum: int, why: str) -> None:
    from .processes import send_signal
    send_signal(rt.sys, c.pid, signum, why)


def wait_exit(rt, c: Container, timeout: float | None = None) -> Container | None:
    """Poll until the container is no longer running; the final record, or None on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            now = rt.refresh(rt.containers.load(c.id))
        except GONE as err:  # removed meanwhile (--rm): its last known record
            log.swallowed("runtime", f"wait for {c.id[:12]}", err)
            return c
        if now.state not in (Status.RUNNING, Status.PAUSED):
            return now
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


def _settled(rt, c: Container, timeout: float = 10.0) -> Container:
    """Wait until the exit has been recorded in the state file (by the monitor's reaper)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rec = rt.containers.load(c.id)
        except GONE as err:  # removed (--rm)
            log.swallowed("runtime", f"wait for the exit record of {c.id[:12]}", err)
            return c
        if rec.state not in (Status.RUNNING, Status.PAUSED):
            return rec
        time.sleep(POLL)
    return rt.refresh(rt.containers.load(c.id))

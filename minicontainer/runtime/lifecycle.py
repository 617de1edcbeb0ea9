"""Lifecycle verbs on existing containers: stop, kill, wait, pause, unpause, restart, rename.

Each verb loads the container, asks the state machine (:mod:`.state`) whether it may
proceed, acts, and lets the monitor record the exit. Signals go to the container's
PID 1 as the host numbers it; note that PID 1 in a PID namespace only receives the
signals it has installed a handler for (pid_namespaces(7)), which is why ``stop``
falls back to SIGKILL after a grace period, exactly as ``docker stop`` does.

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




def _send(rt, c: Container, signum: int, why: str) -> None:
    from .processes import send_signal
    send_signal(rt.sys, c.pid, signum, why)


def _current(rt, ref: str) -> Container:
    c = rt.containers.get(ref)
    return rt.refresh(c)


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


def stop(rt, ref: str, timeout: float = 10.0) -> Container:
    """The image's stop signal (default SIGTERM), then SIGKILL after ``timeout`` seconds."""
    c = _current(rt, ref)
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


def kill(rt, ref: str, sig: str | int = "KILL") -> Container:
    signum = parse_signal(sig)
    c = _current(rt, ref)
    require(c.state, "kill", c.name)
    if c.state is Status.PAUSED and signum != signal.SIGKILL:
        raise StateError(f"container {c.name} is paused: only SIGKILL can reach it", op="kill")
    if c.state is Status.PAUSED:
        rt.cgroup_manager(c.id, rt.sys).thaw()  # a frozen task cannot act on SIGKILL until thawed
    events.container(rt.root, c, "kill", signal=signum)
    _send(rt, c, signum, "kill: the signal asked for, to PID 1")
    return c


def wait(rt, ref: str) -> int:
    """Block until the container exits; its exit code."""
    c = rt.containers.get(ref)
    done = wait_exit(rt, c)
    done = _settled(rt, done)
    return done.exit_code if done.exit_code is not None else -1


def _set_frozen(rt, ref: str, frozen: bool) -> Container:
    c = rt.containers.get(ref)
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


def pause(rt, ref: str) -> Container:
    return _set_frozen(rt, ref, True)


def unpause(rt, ref: str) -> Container:
    return _set_frozen(rt, ref, False)


def restart(rt, ref: str, timeout: float = 10.0) -> Container:
    c = stop(rt, ref, timeout)
    rt.start(c.id)
    c = rt.containers.load(c.id)
    events.container(rt.root, c, "restart")
    return c


def rename(rt, ref: str, new_name: str) -> Container:
    if not names.valid_name(new_name):
        raise UsageError(f"invalid container name {new_name!r}", op="rename")
    c = rt.containers.get(ref)
    with rt.containers.store_lock():
        if any(other.name == new_name for other in rt.containers.list() if other.id != c.id):
            raise ConflictError(f'the container name "{new_name}" is already in use', op="rename")
        with rt.containers.lock(c):
            c = rt.settle(rt.containers.load(c.id))
            old, c.name = c.name, new_name
            rt.containers.save(c)
    events.container(rt.root, c, "rename", oldName=f"/{old}")
    return c

"""Starting a container: three processes and a socket.

::

    runtime (the CLI) ──fork──▶ monitor ──unshare(...) + fork──▶ container (PID 1)
          ▲                        │ waits for PID 1, reports its exit status      │
          └──────── channel: steps, the container's PID, its pty, "ready" ◀───────┘

* The **runtime** creates the cgroup, forks the monitor and then only waits and relays.
* The **monitor** unshares a PID namespace (unshare(2)) and forks: its child is born in
  it as PID 1. The monitor itself stays in every host namespace and outside the
  container's cgroup, so that it can wait for PID 1 (a process can only wait for its
  own children), keep the logs and report the exit status, and is never frozen, limited
  or killed with the container. It is the smallest part of a "container shim".
* The **container** process unshares the other namespaces (mount, UTS, IPC, network),
  builds its root filesystem (:mod:`minicontainer.rootfs`), sets the hostname, brings up
  loopback, says "ready" and waits for "go". Meanwhile the runtime has moved it into its
  cgroup and wired its network. Then it unshares the cgroup namespace (so its own cgroup
  is what it sees as "/") and execve(2)s the command. That part is :mod:`.pid1`.

Kernel calls go through the ``Syscalls`` object, which also records each step; in a dry
run (``RecordingSyscalls``) ``fork`` returns 0, so the plan walks the runtime's,
monitor's and container's paths in order and ends at ``execve``.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass, field

from .. import rootfs
from ..errors import MiniContainerError
from ..kernel import DryRunFinished, Step, Syscalls, send_signal
from ..kernel import constants as C
from ..monitor import DetachSpec, hand_over
from ..security import SecuritySpec
from ..security.userns import UsernsPlan, enter_userns, write_maps
from .channel import Channel, report_error, reported_error
from .pid1 import join_namespace, run_container  # imported now: after pivot_root nothing is reachable



@dataclass
class LaunchSpec:
    """Everything the processes of a start need, decided before the first fork."""

    argv: list[str]
    env: dict[str, str]
    workdir: str
    hostname: str
    plan: rootfs.RootfsPlan
    namespaces: tuple[str, ...]
    cgroup_procs: list[str] = field(default_factory=list)
    tty: bool = False
    interactive: bool = False
    init: bool = False
    die_with_runtime: bool = True
    trace: bool = False        # stream every step to the runtime (--explain); off, it costs nothing
    runtime_pid: int = 0       # set by start(): who the monitor's parent must be
    stdio: dict[int, int] = field(default_factory=dict)   # 0/1/2 -> a descriptor of the runtime's
    detach: DetachSpec | None = None   # run -d: the monitor outlives the runtime and keeps the logs
    pty_socket: socket.socket | None = None  # run -d -t: where PID 1 sends its terminal's master side
    security: SecuritySpec | None = None   # capabilities, user, no_new_privs, seccomp (before execve)
    userns: UsernsPlan | None = None        # rootless: the monitor first unshares a user namespace
    # from config.json (minicontainer.oci.launch): what PID 1 applies on its way to execve
    joins: dict[str, str] = field(default_factory=dict)   # kind -> namespace file to setns(2) into
    ids: tuple[int, int, list[int]] | None = None       # process.user: uid, gid, groups
    rlimits: list[tuple[int, int, int]] = field(default_factory=list)   # (RLIMIT_*, soft, hard)
    oom_score_adj: int | None = None
    umask: int | None = None
    console_size: tuple[int, int] | None = None         # rows, columns of the terminal
    # minicontainer-runc: no monitor; PID 1 is the caller's own child, and with an exec fifo
    # it stops right before execve until ``start`` opens the fifo (runc's create/start split)
    direct: bool = False
    exec_fifo: str | None = None


@dataclass
class Started:
    """A started container: its PID 1, its monitor and how to learn its exit status."""

    monitor_pid: int         # the runtime's child (foreground), or the detached monitor
    pid: int                 # the container's PID 1, as the host numbers it
    status_fd: int           # the monitor writes the wait status here
    pty_master: int | None
    steps: list[Step]


# --------------------------------------------------------------------------- runtime side
def start(sys: Syscalls, spec: LaunchSpec, on_ready=None) -> Started:
    """Fork the monitor and container; return once the command is running (or raise)."""
    if spec.direct:
        return _start_direct(sys, spec)
    parent, child = Channel.pair()
    status_r, status_w = os.pipe()
    spec.runtime_pid = os.getpid()
    try:
        monitor = sys.fork("the monitor: it creates the namespaces and waits for the container")
    except BaseException:
        parent.close(); child.close(); os.close(status_r); os.close(status_w)
        raise
    if monitor == 0:
        if spec.detach is not None:
            # run -d: fork once more and let the middle process exit, so that the monitor is
            # re-parented to init and outlives the runtime without ever becoming its zombie
            sys.plumb("daemonize", _daemonize)
        parent.close()
        os.close(status_r)
        try:
            _monitor(sys, spec, child, status_w)  # never returns: it ends in _exit(2)
        finally:   # reached only from the recording double, whose exit raises
            child.close()
            os.close(status_w)
    child.close()
    os.close(status_w)
    if spec.detach is not None:
        os.waitpid(monitor, 0)  # the middle process, gone at once
    try:
        return _await_exec(sys, spec, parent, monitor, status_r, on_ready)
    except BaseException:
        os.close(status_r)
        raise
    finally:
        parent.close()


def _start_direct(sys: Syscalls, spec: LaunchSpec) -> Started:
    """runc's shape: this process makes the PID namespace for its next child, forks PID 1 and
    keeps no process of its own in between. When this process exits, PID 1 is re-parented to
    the nearest subreaper (containerd's shim, podman's conmon), which waits for it."""
    if spec.userns is not None:
        return _start_direct_userns(sys, spec)
    parent, child = Channel.pair()
    try:
        if "pid" in spec.joins:
            join_namespace(sys, "pid", spec.joins["pid"], "our next child is born in this existing PID namespace")
        elif "pid" in spec.namespaces:
            sys.unshare(C.CLONE_NEWPID, "a new PID namespace for our next child (the container's PID 1)")
        pid = sys.fork("PID 1 of the container, our own child")
    except BaseException:
        parent.close(); child.close()
        raise
    if pid == 0:
        parent.close()
        run_container(sys, spec, child)  # never returns
    child.close()
    try:
        try:
            join_cgroup(sys, spec.cgroup_procs, pid)
        except MiniContainerError:
            _kill(sys, pid)
            raise
        return _await_exec(sys, spec, parent, 0, -1, None, pid=pid)
    finally:
        parent.close()


def _start_direct_userns(sys: Syscalls, spec: LaunchSpec) -> Started:
    """Direct start with a new user namespace: it must own the PID namespace (or PID 1 could
    not mount /proc), so a short-lived middle process unshares both, forks PID 1 and exits.
    As a subreaper we inherit PID 1 meanwhile; when we exit it passes on to the engine's."""
    sys.prctl(C.PR_SET_CHILD_SUBREAPER, 1, "orphaned descendants (PID 1, once the middle process exits) "
              "become our children", label="PR_SET_CHILD_SUBREAPER")
    parent, child = Channel.pair()
    middle = sys.fork("a middle process: it creates the user and PID namespaces, forks PID 1 and exits")
    if middle == 0:
        parent.close()
        try:
            enter_userns(sys, spec.userns, child)
            if spec.userns.root_outside != (os.geteuid(), os.getegid()):   # our host ids are not its root
                sys.switch_user(0, 0, [0], "become the new user namespace's root (uid 0 is mapped, ours is not)")
            sys.unshare(C.CLONE_NEWPID, "a PID namespace owned by the new user namespace")
            pid = sys.fork("PID 1 of the container")
            if pid == 0:
                run_container(sys, spec, child)  # never returns
            child.send({"type": "pid", "pid": pid, "monitor": 0})
            sys.exit(0)
        except BaseException as err:
            report_error(child, err)
            sys.exit(125, err)
    child.close()
    try:
        started = _await_exec(sys, spec, parent, middle, -1, None)
    finally:
        parent.close()
        _reap(middle, -1)
    return started


def _await_exec(sys, spec, chan: Channel, monitor: int, status_r: int, on_ready, pid: int = 0) -> Started:
    steps = list(sys.steps)
    own_before = len(sys.steps)
    pty_master = None
    failure = None
    # PID 1 and the monitor both write to this channel. PID 1 may say "ready" before the
    # monitor, which forked it, gets to report its PID (a busy host: 20 parallel starts),
    # so an early "ready" waits until the PID is known and the cgroup joined.
    early_ready = None
    while True:
        if early_ready is not None and pid != 0:
            (msg, fds), early_ready = early_ready, None
        else:
            msg, fds = chan.recv()
        if msg is None:
            break
        kind = msg.get("type")
        if kind == "ready" and pid == 0:
            early_ready = (msg, fds)
            continue
        if kind == "step":
            step = Step(**msg["step"])
            if step.error and steps and (steps[-1].call, steps[-1].args) == (step.call, step.args):
                steps[-1] = step
            else:
                steps.append(step)
        elif kind == "userns":   # the monitor is in its new user namespace: map it from out here
            before = len(sys.steps)
            try:
                write_maps(sys, msg["pid"], spec.userns)
            except BaseException as err:
                failure = err
                chan.send({"type": "abort"})
                break
            finally:
                steps += sys.steps[before:]
            chan.send({"type": "mapped"})
        elif kind == "pid":
            pid = msg["pid"]
            monitor = msg.get("monitor", monitor)
            try:  # while PID 1 is still building its root filesystem (the two overlap)
                join_cgroup(sys, spec.cgroup_procs, pid)
            except MiniContainerError as err:
                failure = err
                _kill(sys, pid)
                break
        elif kind == "pty":
            pty_master = fds[0]
        elif kind == "ready":
            if on_ready is not None:
                try:
                    on_ready(pid)
                except BaseException as err:
                    failure = err
                    _kill(sys, pid)
                    break
            try:
                chan.send({"type": "go"})
            except OSError:  # the container died after "ready": its error (if any) or EOF follows
                pass
        elif kind == "waiting":   # stopped at the exec fifo: created, not started
            break
        elif kind == "error":
            failure = reported_error(msg)   # the message names its operation already
    steps = sorted(steps + sys.steps[own_before:], key=lambda step: step.t)
    if failure is not None or pid == 0:
        if spec.direct:
            _kill(sys, pid)
            _reap(pid, -1)
        elif spec.detach is None:
            _reap(monitor, status_r)
        if pty_master is not None:
            os.close(pty_master)
        if failure is None:
            failure = MiniContainerError("the container process exited before starting its command", op="start")
        failure.steps = steps
        failure.pid_known = pid != 0
        raise failure
    return Started(monitor_pid=monitor, pid=pid, status_fd=status_r, pty_master=pty_master, steps=steps)


def join_cgroup(sys: Syscalls, procs_files: list[str], pid: int | str) -> None:
    """Move the container's PID 1 into its cgroup, from outside, before it runs its command.

    Moving a task between cgroups can wait for an RCU grace period in the kernel (several
    milliseconds on a small VM); done by the runtime, it overlaps PID 1's own set-up work.
    """
    for procs in procs_files:
        sys.write_file(procs, str(pid), "put the container's PID 1 into its cgroup (children inherit it)")


def _kill(sys: Syscalls, pid: int) -> None:
    """A start that failed half-way: SIGKILL its PID 1 (already gone is fine)."""
    if pid:
        send_signal(sys, pid, signal.SIGKILL, "the start failed: its PID 1 must not run on")


def _reap(monitor: int, status_r: int) -> None:
    try:
        os.waitpid(monitor, 0)
    except ChildProcessError:
        pass


def wait_status(started: Started) -> int | None:
    """Block until the monitor reports the container's wait status; reap the monitor.

    Returns the raw status (see waitpid(2)), or None when the monitor died without
    reporting (the container's fate is then unknown: the caller marks it dead).
    """
    data = b""
    while True:
        chunk = os.read(started.status_fd, 64)
        if not chunk:
            break
        data += chunk
    os.close(started.status_fd)
    try:
        os.waitpid(started.monitor_pid, 0)
    except ChildProcessError:
        pass
    return int(data) if data.strip() else None


# --------------------------------------------------------------------------- monitor
def _monitor(sys: Syscalls, spec: LaunchSpec, chan: Channel, status_w: int) -> None:
    sys.where = "monitor"
    code, failure = 125, None
    try:
        if spec.trace:   # (the recording double keeps every step in its own list: nothing to send)
            sys.plumb("send steps", lambda: _send_steps(sys, chan))
        sys.plumb("setsid", os.setsid)  # away from the terminal's signals: the runtime forwards what is meant for us
        if spec.die_with_runtime:
            sys.prctl(C.PR_SET_PDEATHSIG, signal.SIGKILL, "if the runtime is killed, the monitor dies too",
                      label="PR_SET_PDEATHSIG")
            if sys.plumb("getppid", os.getppid, stand_in=spec.runtime_pid) != spec.runtime_pid:
                sys.exit(125)   # it died before the line above took effect
        if spec.userns is not None:
            enter_userns(sys, spec.userns, chan)
        if "pid" in spec.joins:
            join_namespace(sys, "pid", spec.joins["pid"], "our next child is born in this existing PID namespace")
        elif "pid" in spec.namespaces:
            sys.unshare(C.CLONE_NEWPID, "a new PID namespace for our next child; the monitor itself stays "
                        "outside, in the host's mount, network and cgroup namespaces")
        out_r = err_r = in_w = -1
        pty_socks = None
        if spec.detach is not None:
            out_r, err_r, in_w, pty_socks = sys.plumb("detached streams", lambda: _detached_streams(spec),
                                                      stand_in=(-1, -1, -1, None))
        pid = sys.fork("the first process born in the new PID namespace: PID 1 of the container",
                       peer=lambda: join_cgroup(sys, spec.cgroup_procs, "PID"))  # the runtime, once it hears the PID
        if pid == 0:
            sys.plumb("close", lambda: os.close(status_w))   # the monitor's alone
            if pty_socks:
                pty_socks[0].close()
                spec.pty_socket = pty_socks[1]
            run_container(sys, spec, chan)  # never returns
        chan.send({"type": "pid", "pid": pid, "monitor": os.getpid()})
        chan.close()
        sys.on_step = None
        if spec.detach is not None:
            os.close(status_w)
            for fd in spec.stdio.values():
                os.close(fd)
            if pty_socks:
                pty_socks[1].close()
                _msg, fds, _f, _a = socket.recv_fds(pty_socks[0], 16, 1)
                out_r = fds[0] if fds else -1
                pty_socks[0].close()
                if spec.interactive:   # -it: what is written to the pty master is the terminal's input
                    in_w = out_r
            hand_over(sys, spec.detach, pid, out_r, err_r, in_w, spec.tty)  # never returns
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                status = 255 << 8
                break
        os.write(status_w, str(status).encode())
        code = 0
    except DryRunFinished:
        raise
    except BaseException as err:
        failure = err
        report_error(chan, err)
    finally:
        sys.exit(code, failure)


def _send_steps(sys: Syscalls, chan: Channel) -> None:
    sys.on_step = lambda step: chan.send({"type": "step", "step": step.__dict__})


def _daemonize() -> None:
    """The middle of run -d's double fork (run through ``sys.plumb``): the parent exits at once."""
    if os.fork() != 0:
        os._exit(0)


def _detached_streams(spec: LaunchSpec):
    """run -d: the monitor's standard streams become /dev/null, and PID 1's become pipes (or a
    pseudo-terminal, sent back over a socket pair) whose other ends the monitor keeps."""
    # a daemon keeps none of the caller's streams open (else a caller reading our output
    # through a pipe would wait for as long as the container runs)
    out_r = err_r = in_w = -1
    pty_socks = None
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    if spec.tty:
        pty_socks = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        spec.stdio = {1: out_w, 2: err_w}
        if spec.interactive:   # -i: the monitor keeps the writing end for its attach socket
            in_r, in_w = os.pipe()
            spec.stdio[0] = in_r
    return out_r, err_r, in_w, pty_socks

"""What the container's first process does between fork(2) and execve(2).

It is born as PID 1 of a new PID namespace (the monitor forked it, see
:mod:`.launcher`), still a copy of the runtime: same mounts, same host name, every
capability. In order:

1. ``prctl(PR_SET_PDEATHSIG)``: if the monitor dies, so does the container;
2. unshare(2) the mount, UTS, IPC and network namespaces, and build the root filesystem
   in the new mount namespace: overlay, /proc, /sys, /dev, pivot_root (:mod:`..rootfs`);
3. the hostname, loopback up, then "ready" to the runtime, and wait for "go": meanwhile
   the runtime moves us into our cgroup and wires the network;
4. unshare the cgroup namespace (now our own cgroup is what we see as "/"), set up the
   standard streams and the working directory, find the program on $PATH;
5. give up power (:func:`..security.confine_container`: masked paths, capabilities,
   no_new_privs, seccomp last) and execve(2) the command, or run the minimal init
   (``--init``) that execs it as its child.

Everything this process needs after pivot_root must already be imported: the host's
files, our modules included, are out of reach once the old root is detached.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import struct
import termios
from typing import TYPE_CHECKING

from .. import rootfs
from ..errors import ExecError, KernelError
from ..kernel import DryRunFinished, Syscalls
from ..kernel import constants as C
from ..namespaces import NAMESPACES, clone_flags, describe
from ..security import confine, confine_container
from .channel import Channel, report_error
from .init import run_as_init
from .users import resolve_user

if TYPE_CHECKING:
    from .launcher import LaunchSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: signals Python changes at start-up that a new program must get back at their defaults
RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def find_executable(cmd: str, path_var: str) -> str:
    """Resolve ``cmd`` as execvp(3) would, raising Docker's 126/127 errors."""
    if "/" in cmd:
        candidates = [cmd]
    else:
        candidates = [os.path.join(d or ".", cmd) for d in path_var.split(":")]
    denied = None
    for cand in candidates:
        if os.path.isfile(cand):
            if os.access(cand, os.X_OK):
                return cand
            denied = cand
        elif os.path.isdir(cand) and "/" in cmd:
            raise ExecError(f'exec: "{cmd}": is a directory', path=cand, exit_code=126)
    if denied:
        raise ExecError(f'exec: "{cmd}": permission denied', path=denied, exit_code=126)
    where = "no such file or directory" if "/" in cmd else "executable file not found in $PATH"
    raise ExecError(f'exec: "{cmd}": {where}', exit_code=127)


def run_container(sys: Syscalls, spec: LaunchSpec, chan: Channel) -> None:
    """PID 1, from its birth in the new PID namespace to execve(2); never returns (it exits
    with Docker's code if anything fails, after telling the runtime why)."""
    sys.where = "container"
    code, failure = 125, None
    try:
        if not spec.direct:   # minicontainer-runc: our parent (create) exits by design
            sys.prctl(C.PR_SET_PDEATHSIG, signal.SIGKILL, "if the monitor dies, the container dies with it",
                      label="PR_SET_PDEATHSIG")
        for kind, path in spec.joins.items():
            if kind not in ("pid", "cgroup"):
                join_namespace(sys, kind, path, f"config.json: join the existing {kind} namespace {path}")
        fifo_fd = os.open(spec.exec_fifo, os.O_PATH | os.O_CLOEXEC) if spec.exec_fifo else -1
        kinds = tuple(k for k in spec.namespaces if k not in ("pid", "cgroup"))
        sys.unshare(clone_flags(kinds), describe(kinds))
        for number, soft, hard in spec.rlimits:
            sys.setrlimit(number, soft, hard, "process.rlimits: set while we may still raise a hard limit")
        if spec.oom_score_adj is not None:
            sys.write_file("/proc/self/oom_score_adj", str(spec.oom_score_adj),
                           "process.oomScoreAdj: how eagerly the OOM killer picks this process")
        if spec.umask is not None:
            sys.umask(spec.umask, "process.user.umask")
        rootfs.assemble(sys, spec.plan)
        if "uts" in spec.namespaces and spec.hostname:
            sys.sethostname(spec.hostname, "the hostname seen inside the container")
        if "net" in spec.namespaces:
            sys.link_up("lo", "the new network namespace has only a loopback device, and it starts down")
        slave = sys.plumb("openpty", lambda: open_terminal(spec, chan)) if spec.tty else None
        reply = sys.plumb("ready", lambda: ask(chan, {"type": "ready"}), stand_in={"type": "go"})
        if not reply or reply.get("type") != "go":
            sys.exit(125)      # the runtime gave up on us (its own error says why)
        if "cgroup" in spec.joins:
            join_namespace(sys, "cgroup", spec.joins["cgroup"], "config.json: join an existing cgroup namespace")
        elif "cgroup" in spec.namespaces:  # only now: the runtime has put us into our cgroup
            sys.unshare(C.CLONE_NEWCGROUP, "own view of the cgroup tree: its cgroup appears as the root '/'")
        sys.plumb("stdio", lambda: prepare_stdio(sys, spec, slave))
        enter_workdir(sys, spec.workdir)
        path = sys.plumb("find the program", lambda: find_executable(spec.argv[0], spec.env.get("PATH", DEFAULT_PATH)),
                         stand_in=spec.argv[0])
        sys.plumb("default signals", reset_signals)
        if spec.security is not None and spec.ids is not None:
            confine(sys, spec.security, spec.ids)   # process.user: ids resolved when config.json was written
        elif spec.security is not None:
            confine_container(sys, spec.security, spec.env, resolve_user)
        if spec.exec_fifo is not None:
            wait_for_start(chan, fifo_fd)
        if spec.init:
            run_as_init(sys, path, spec.argv, spec.env, chan)  # never returns
        try:
            sys.execve(path, spec.argv, spec.env, "replace this process with the container's command")
        except KernelError as err:
            raise exec_error(spec.argv[0], err) from err
    except DryRunFinished:
        raise
    except BaseException as err:
        code, failure = getattr(err, "exit_code", 125), err
        report_error(chan, err)
    finally:
        sys.exit(code, failure)


def open_terminal(spec: LaunchSpec, chan: Channel) -> int:
    """-t: a pseudo-terminal from the container's own devpts instance; its master goes to the
    runtime (or, detached, to the monitor, which logs what it shows); the slave is returned."""
    master, slave = os.openpty()
    if spec.console_size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *spec.console_size, 0, 0))
    if spec.pty_socket is not None:  # detached: the monitor logs the terminal's output
        socket.send_fds(spec.pty_socket, [b"pty"], [master])
        spec.pty_socket.close()
    else:
        chan.send({"type": "pty"}, [master])
    os.close(master)
    return slave


def ask(chan: Channel, msg: dict) -> dict | None:
    """Send ``msg`` to the runtime and wait for its answer (None if it has gone)."""
    chan.send(msg)
    return chan.recv()[0]


def reset_signals() -> None:
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def wait_for_start(chan: Channel, fifo_fd: int) -> None:
    """runc's exec fifo: tell ``create`` we are ready, then block opening the fifo for writing
    until ``start`` opens it for reading. It is reached through /proc/self/fd, since its path on
    the host is out of reach after pivot_root (and the fd was opened with O_PATH, before)."""
    chan.send({"type": "waiting"})
    chan.close()
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(fifo_fd)


def join_namespace(sys: Syscalls, kind: str, path: str, why: str) -> None:
    """setns(2) into the namespace file ``path`` (such as /proc/PID/ns/net) of kind ``kind``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise KernelError.from_oserror("setns", err, path) from err
    try:
        sys.setns(fd, NAMESPACES[kind][0], why, label=path)
    finally:
        os.close(fd)


def exec_error(cmd: str, err: KernelError) -> ExecError:
    """execve(2) failed: Docker's message and exit code (127 not found, 126 otherwise)."""
    if err.errno == errno.ENOENT:
        return ExecError(f'exec: "{cmd}": no such file or directory', exit_code=127)
    reason = {errno.EACCES: "permission denied", errno.ENOEXEC: "exec format error"}.get(err.errno, err.message)
    return ExecError(f'exec: "{cmd}": {reason}', exit_code=126)


def prepare_stdio(sys: Syscalls, spec: LaunchSpec, slave: int | None) -> None:
    """Standard streams: the pty (as controlling terminal), or the caller's descriptors, and
    /dev/null for stdin unless ``-i``."""
    if slave is not None:
        sys.setsid_ctty(slave, "the pseudo-terminal becomes the controlling terminal of PID 1")
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        return
    for target, source in spec.stdio.items():
        os.dup2(source, target)
    if not spec.interactive and 0 not in spec.stdio:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)


def enter_workdir(sys: Syscalls, workdir: str) -> None:
    """chdir(2) into ``-w``, creating it first if the image lacks it (as Docker does)."""
    if not sys.plumb("is the workdir there", lambda: os.path.isdir(workdir), stand_in=True):
        parts = [p for p in workdir.split("/") if p]
        cur = "/"
        for part in parts:
            cur = os.path.join(cur, part)
            if not os.path.isdir(cur):
                sys.mkdir(cur, 0o755, "the working directory did not exist in the image")
    sys.chdir(workdir, "the container's working directory")

"""Joining a running container: the one way a new process gets inside (``exec``).

There is no special door into a container. A container *is* its namespaces and its
cgroup, so another process becomes part of it by joining them, the way runc's
``nsenter`` C code does for ``runc exec`` (setns(2), namespaces(7), cgroups(7)):

1. open every ``/proc/PID/ns/<kind>`` of the container's PID 1 *first*: once we have
   joined its mount namespace, the host's /proc is out of reach;
2. fork a **joiner**, which writes itself into the container's ``cgroup.procs`` files and
   setns(2)es into each namespace: the user namespace first (it grants the right to join
   the others), the mount namespace last (it changes what ``/`` and ``/proc`` mean);
3. the joiner forks once more, because joining a PID namespace only moves the caller's
   *children* into it (pid_namespaces(7)); the child is born inside, as PID n of the
   container, and **becomes** the process: rlimits, a terminal or the given streams, the
   working directory, then the container's confinement (capabilities, user,
   no_new_privs, seccomp) last, and execve(2).

Both front ends use these steps: ``minicontainer exec`` and the engine's exec (the
process settings come from the container's config.json) and ``minicontainer-runc exec``
(they come from ``--process process.json``). Errors travel back over the channel of
:mod:`.channel`, as typed errors with the exit code docker and runc use (126, 127, 125).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KernelError
from ..kernel import Syscalls
from ..kernel import constants as C
from .channel import Channel, report_error
from .pid1 import DEFAULT_PATH, RESET_SIGNALS, exec_error, find_executable

#: the order we join them in: user first, mount last (it changes what /proc and / mean for us)
JOIN_ORDER = (("user", C.CLONE_NEWUSER), ("cgroup", C.CLONE_NEWCGROUP), ("ipc", C.CLONE_NEWIPC),
              ("uts", C.CLONE_NEWUTS), ("net", C.CLONE_NEWNET), ("pid", C.CLONE_NEWPID), ("mnt", C.CLONE_NEWNS))


@dataclass
class Joining:
    """The process to start inside: what it runs and how it is confined.

    ``user`` is a (uid, gid, groups) triple (config.json's numeric user) or a name or
    ``uid[:gid]`` to look up in the *container's* /etc/passwd (``exec -u``), which can only
    be read once inside."""

    argv: list[str]
    env: dict[str, str]
    cwd: str = "/"
    user: tuple | str | None = None
    security: object = None                  # a security.SecuritySpec
    rlimits: list[tuple[int, int, int]] = field(default_factory=list)
    tty: bool = False
    stdio: dict[int, int] = field(default_factory=dict)   # target fd -> our fd (no tty)
    interactive: bool = True                 # keep our stdin when stdio gives none (else /dev/null)


def namespace_fds(proc_root: Path, pid: int) -> list[tuple[str, int, int]]:
    """(kind, CLONE_* flag, fd) for each namespace of ``pid`` we are not already in.

    Our own user namespace is skipped (joining it is EINVAL), and so is any other the
    container shares with us (``--network host``), except the PID namespace: we fork
    after joining either way. The caller closes the descriptors."""
    out = []
    try:
        for kind, flag in JOIN_ORDER:
            path = proc_root / str(pid) / "ns" / kind
            try:
                shared = os.readlink(path) == os.readlink(proc_root / "self" / "ns" / kind)
                if shared and kind != "pid":
                    continue
                out.append((kind, flag, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except FileNotFoundError:
                continue                     # a kind this kernel does not have
            except OSError as err:
                raise KernelError.from_oserror("open", err, path) from err
    except BaseException:
        for _, _, fd in out:
            os.close(fd)
        raise
    return out


def join_and_fork(sys: Syscalls, chan: Channel, ns_fds, procs: list[str], proc: Joining, *,
                  detach: bool, new_session: bool = False, status_fd: int | None = None) -> None:
    """The joiner (never returns): into the cgroup and the namespaces, then fork the process.

    It sends the process's PID (its own numbering is still the host's: setns(PID) moved
    only its children). With ``detach`` it exits at once, leaving the process to its
    subreaper; else it waits, then exits with the process's code, or (``status_fd``) writes
    the raw wait status there and exits 0 (a relay watching the terminal needs the pipe).
    ``new_session``: setsid(2) first, so that the caller's terminal signals miss the process."""
    code, failure = 125, None
    try:
        if new_session:
            sys.plumb("setsid", os.setsid)
        for path in procs:
            sys.write_file(path, "0", "join the container's cgroup")
        for kind, flag, fd in ns_fds:
            sys.setns(fd, flag, f"join the container's {kind} namespace", label=f"/proc/PID/ns/{kind}")
        pid = sys.fork("born inside the container's PID namespace")
        if pid == 0:
            become(sys, chan, proc)
        chan.send({"type": "pid", "pid": pid})
        chan.close()
        code = 0
        if not detach:
            _, status = os.waitpid(pid, 0)
            if status_fd is not None:
                os.write(status_fd, str(status).encode())
            else:
                code = exit_status(status)
    except BaseException as err:             # reported to the runtime; this process only exits
        failure = err
        report_error(chan, err)
    finally:
        sys.exit(code, failure)


def become(sys: Syscalls, chan: Channel, proc: Joining) -> None:
    """Inside every namespace: turn this child into ``proc`` and execve(2) it (never returns)."""
    from ..security import confine
    from .users import resolve_user
    code, failure = 125, None
    try:
        for number, soft, hard in proc.rlimits:
            sys.setrlimit(number, soft, hard, "process.rlimits")
        ids, env = proc.user, dict(proc.env)
        if isinstance(proc.user, str):       # looked up in the container's own /etc/passwd
            uid, gid, groups, home = resolve_user(proc.user)
            ids = (uid, gid, groups)
            env.setdefault("HOME", home)
        if proc.tty:
            master, slave = os.openpty()     # from the container's devpts: /dev/ptmx is its own now
            chan.send({"type": "pty"}, [master])
            os.close(master)
            sys.setsid_ctty(slave, "the pseudo-terminal becomes our controlling terminal")
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
        else:
            for target, source in proc.stdio.items():
                os.dup2(source, target)
            if not proc.interactive and 0 not in proc.stdio:
                os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        sys.chdir(proc.cwd, "the working directory")
        path = find_executable(proc.argv[0], env.get("PATH", DEFAULT_PATH))
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        confine(sys, proc.security, ids)     # capabilities, user, no_new_privs and seccomp, last
        try:
            sys.execve(path, proc.argv, env, "the command, inside the container")
        except KernelError as err:
            raise exec_error(proc.argv[0], err) from err
    except BaseException as err:
        code, failure = getattr(err, "exit_code", 125), err
        report_error(chan, err)
    finally:
        sys.exit(code, failure)


def collect(chan: Channel, on_pid=None) -> tuple[int, int | None, dict | None]:
    """The runtime's side: read the joiner's reports until both ends are gone.
    Returns (pid, pty master or None, the error report or None)."""
    pid, master, failure = 0, None, None
    while True:
        msg, fds = chan.recv()
        if msg is None:
            return pid, master, failure
        if msg["type"] == "pid":
            pid = msg["pid"]
            if on_pid is not None:
                on_pid(pid)
        elif msg["type"] == "pty":
            master = fds[0]
        elif msg["type"] == "error":
            failure = msg


def exit_status(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + the signal's number."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code

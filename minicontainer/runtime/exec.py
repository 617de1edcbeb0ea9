"""``exec``: start another process inside a running container (``docker exec``).

How a process gets in (setns(2) into each of PID 1's namespaces, the cgroup, one more
fork for the PID namespace) is :mod:`.join`, shared with ``minicontainer-runc exec``. What
this module adds is docker's view of it: the process inherits the container's settings
from its config.json (capabilities, no_new_privs, seccomp, user, working directory) and
the environment PID 1 was started with, ``-u`` names a user of the container's own
/etc/passwd, and the runtime relays a terminal (``-it``) or waits for the exit code.
"""

from __future__ import annotations

import os
import signal
import threading

from ..errors import MiniContainerError
from ..kernel import Syscalls
from .channel import Channel, reported_error
from .join import Joining, collect, exit_status, join_and_fork, namespace_fds
from .pid1 import DEFAULT_PATH
from .options import parse_env
from .state import require
from ..oci.launch import process_ids, security_spec
from ..security.userns import read_map


def container_env(proc_root, pid: int) -> dict[str, str]:
    """The environment PID 1 was started with (/proc/PID/environ, NUL-separated)."""
    try:
        raw = (proc_root / str(pid) / "environ").read_bytes()
    except OSError:
        return {"PATH": DEFAULT_PATH}
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode(errors="replace").partition("=")
        if sep:
            env[key] = value
    return env


def exec_in(rt, ref: str, argv: list[str], *, env: list[str] = (), workdir: str | None = None,
            user: str | None = None, tty: bool = False, interactive: bool = False, detach: bool = False,
            stdio: dict[int, int] | None = None, on_pty=None, on_pid=None) -> int:
    """Run ``argv`` in the container; its exit code (0 at once with ``detach``). With ``tty`` the
    terminal is relayed to ``stdio``'s 0 and 1 (default ours); ``on_pty(master_fd)`` sees it first;
    ``on_pid(pid)`` learns the process's PID as the host numbers it (docker exec inspect's Pid)."""
    if not argv:
        raise MiniContainerError("no command given", op="exec")
    c = rt.refresh(rt.containers.get(ref))
    require(c.state, "exec", c.name)
    sys = rt.sys
    ns_fds = namespace_fds(rt.proc_root, c.pid)
    try:
        procs = [str(p) for p in rt.cgroup_manager(c.id, sys).procs_files()]
        environment = container_env(rt.proc_root, c.pid)
        environment.update(parse_env(list(env)))
        # the container's own process settings, from its config.json (the one config): capabilities,
        # no_new_privs, seccomp, user and working directory, as docker exec and runc exec inherit them
        spec = c.spec()
        security = security_spec(spec, rt.proc_root, single_uid_map=any(kind == "user" for kind, _, _ in ns_fds)
                                 and _single_map(rt, c.pid))
        proc = Joining(argv=list(argv), env=environment, cwd=workdir or spec.process.cwd or "/",
                       user=user or process_ids(spec.process.user), security=security, tty=tty,
                       stdio=dict(stdio or {}), interactive=interactive)
        return _launch(sys, ns_fds, procs, proc, detach, on_pty, on_pid)
    finally:
        for _, _, fd in ns_fds:
            os.close(fd)


def _launch(sys: Syscalls, ns_fds, procs, proc: Joining, detach: bool, on_pty=None, on_pid=None) -> int:
    parent, child = Channel.pair()
    status_r, status_w = os.pipe()
    joiner = sys.fork("a process that will join the container's namespaces")
    if joiner == 0:
        parent.close()
        os.close(status_r)
        join_and_fork(sys, child, ns_fds, procs, proc, detach=detach, new_session=detach, status_fd=status_w)
    child.close()
    os.close(status_w)
    try:
        _, master, failure = collect(parent, on_pid)
    finally:
        parent.close()
    if failure is not None:
        os.waitpid(joiner, 0)
        os.close(status_r)
        if master is not None:
            os.close(master)
        raise reported_error(failure, op="exec")
    if detach:
        os.waitpid(joiner, 0)
        os.close(status_r)
        return 0
    main = threading.current_thread() is threading.main_thread()   # a server thread has no signals to set
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if master is None and main else None
    try:
        if master is not None:
            from .tty import relay
            if on_pty is not None:
                on_pty(master)
            relay(master, status_r, interactive=proc.interactive, stdin=proc.stdio.get(0),
                  stdout=proc.stdio.get(1))
        data = b""
        while chunk := os.read(status_r, 64):
            data += chunk
    finally:
        os.close(status_r)
        os.waitpid(joiner, 0)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return exit_status(int(data)) if data else 125


def _single_map(rt, pid: int) -> bool:
    """Does the container's user namespace map only one uid (rootless without /etc/subuid)?"""
    try:
        ranges = read_map((rt.proc_root / str(pid) / "uid_map").read_text())
    except OSError:
        return False
    return len(ranges) == 1 and ranges[0][2] == 1

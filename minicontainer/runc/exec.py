"""``minicontainer-runc exec``: one more process in a running container (runtime-spec "process").

A container is its namespaces and its cgroup, so a new process joins them, by the same steps
as ``minicontainer exec`` (:mod:`minicontainer.runtime.join`): into the container's cgroups,
setns(2) into each of PID 1's namespaces, one more fork for the PID namespace. The child then
applies the process.json (rlimits, user, capabilities, no_new_privs, the container's seccomp
filter) and execve(2)s.

With ``--detach`` (what conmon and containerd's shim use), the middle process exits at once:
the new process is re-parented to the engine (a subreaper), which waits for it and reads its
pid from ``--pid-file``.
"""

from __future__ import annotations

import dataclasses
import os

from ..errors import StateError, UsageError
from ..oci.launch import rlimits as rlimits_of
from ..oci.launch import security_spec
from ..oci.spec import Process, Spec, load
from ..runtime.channel import Channel, reported_error
from ..runtime.join import Joining, collect, join_and_fork, namespace_fds


def process_from(path: str | None, args: list[str], *, cwd=None, env=(), tty=False, user=None) -> Process:
    """``--process process.json``, or the command line's arguments over the container's process."""
    if path:
        import json
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as err:
            raise UsageError(f"cannot read the process file: {os.strerror(err.errno).lower()}", op="exec",
                             path=path) from err
        except ValueError as err:
            raise UsageError(f"invalid JSON: {str(err).lower()}", op="exec", path=path) from err
        return load(Process, data, "process")
    if not args:
        raise UsageError("exec needs a command, or --process", op="exec")
    return dataclasses.replace(Process(), args=list(args))


def run_exec(store, cid: str, proc: Process, *, detach: bool, pid_file: str | None, console_socket: str | None,
             sys) -> int:
    from .container import _write_pid, send_console
    rec = store.load(cid)
    if store.status(rec) != "running":
        raise StateError(f"cannot exec in a {store.status(rec)} container", op="exec")
    if proc.terminal and not console_socket:
        raise UsageError("a terminal needs --console-socket", op="exec")
    config = Spec.from_json((store.dir(cid) / "config.json").read_text())
    base = config.process
    if not proc.env:
        proc.env = list(base.env)
    if proc.capabilities is None:
        proc.capabilities = base.capabilities
    config.process = proc
    sec = security_spec(config, store.proc_root, single_uid_map=False)
    joining = Joining(argv=list(proc.args), env=dict(item.split("=", 1) for item in proc.env), cwd=proc.cwd,
                      user=(proc.user.uid, proc.user.gid, list(proc.user.additional_gids)), security=sec,
                      rlimits=rlimits_of(config), tty=proc.terminal)
    procs = [str(p) for p in store.cgroup(rec, sys).procs_files()]
    from . import devices
    dev = devices._dir(store, rec.cgroup)
    if dev is not None and (dev / "cgroup.procs").exists():
        procs.append(str(dev / "cgroup.procs"))
    fds = namespace_fds(store.proc_root, rec.pid)
    parent, child = Channel.pair()
    try:
        joiner = sys.fork("a process that joins the container's cgroup and namespaces")
        if joiner == 0:
            parent.close()
            join_and_fork(sys, child, fds, procs, joining, detach=detach)
        child.close()
        pid, master, failure = collect(parent)
        if failure is not None or not pid:
            os.waitpid(joiner, 0)
            raise reported_error(failure or {"message": "the process did not start"}, op="exec")
        if master is not None:
            send_console(console_socket, master)
        if pid_file:
            _write_pid(pid_file, pid)
        _, status = os.waitpid(joiner, 0)
        return 0 if detach else os.waitstatus_to_exitcode(status)
    finally:
        parent.close()
        for _, _, fd in fds:
            os.close(fd)

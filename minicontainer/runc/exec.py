"""``minicontainer-runc exec``: one more process in a running container (runtime-spec "process").

A container is its namespaces and its cgroup, so a new process joins them: it writes
itself into the container's cgroups, setns(2)es into each of PID 1's namespaces (the user
namespace first, since it grants the right to join the others; the mount namespace last,
since after it our own files are out of reach), and forks, because a PID namespace is only
entered by the *children* of whoever joined it. The child then applies the process.json
(user, capabilities, no_new_privs, the container's seccomp filter) and execve(2)s.

With ``--detach`` (what conmon and containerd's shim use), the middle process exits at once:
the new process is re-parented to the engine (a subreaper), which waits for it and reads its
pid from ``--pid-file``.
"""

from __future__ import annotations

import dataclasses
import os

from ..errors import KernelError, MiniContainerError, StateError, UsageError
from ..oci.launch import rlimits as rlimits_of
from ..oci.launch import security_spec
from ..oci.spec import Process, Spec, load
from ..runtime.channel import Channel
from ..runtime.exec import JOIN_ORDER
from ..runtime.pid1 import DEFAULT_PATH, RESET_SIGNALS, exec_error, find_executable, report_error
from ..security import confine
from ..kernel import constants as C


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
    ids = (proc.user.uid, proc.user.gid, list(proc.user.additional_gids))
    env = dict(item.split("=", 1) for item in proc.env)
    limits = rlimits_of(config)
    procs = [str(p) for p in store.cgroup(rec, sys).procs_files()]
    from . import devices
    dev = devices._dir(store, rec.cgroup)
    if dev is not None and (dev / "cgroup.procs").exists():
        procs.append(str(dev / "cgroup.procs"))
    fds = _namespace_fds(store, rec.pid)
    parent, child = Channel.pair()
    try:
        joiner = sys.fork("a process that joins the container's cgroup and namespaces")
        if joiner == 0:
            parent.close()
            _join_and_fork(sys, child, fds, procs, proc, env, ids, sec, limits, detach)
        child.close()
        pid, master, failure = 0, None, None
        while True:
            msg, got = parent.recv()
            if msg is None:
                break
            if msg["type"] == "pid":
                pid = msg["pid"]
            elif msg["type"] == "pty":
                master = got[0]
            elif msg["type"] == "error":
                failure = msg
        if failure is not None or not pid:
            os.waitpid(joiner, 0)
            err = MiniContainerError(failure["message"] if failure else "the process did not start", op="exec")
            err.exit_code = failure["exit_code"] if failure else 125
            raise err
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


def _namespace_fds(store, pid: int):
    own_user = os.readlink(store.proc_root / "self" / "ns" / "user")
    out = []
    for kind, flag in (("user", C.CLONE_NEWUSER),) + JOIN_ORDER:
        path = store.proc_root / str(pid) / "ns" / kind
        try:
            if kind == "user" and os.readlink(path) == own_user:
                continue   # the host's user namespace: joining our own would be EINVAL
            if os.readlink(path) == os.readlink(store.proc_root / "self" / "ns" / kind) and kind != "pid":
                continue   # a namespace the container shares with us
            out.append((kind, flag, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            continue
        except OSError as err:
            raise KernelError.from_oserror("open", err, path) from err
    return out


def _join_and_fork(sys, chan, fds, procs, proc, env, ids, sec, limits, detach) -> None:
    code = 125
    try:
        for path in procs:
            sys.write_file(path, "0", "join the container's cgroup")
        for kind, flag, fd in fds:
            sys.setns(fd, flag, f"join the container's {kind} namespace", label=f"/proc/PID/ns/{kind}")
        pid = sys.fork("born inside the container's PID namespace")
        if pid == 0:
            _inside(sys, chan, proc, env, ids, sec, limits)
        chan.send({"type": "pid", "pid": pid})   # our PID namespace is still the host's: setns moves children only
        chan.close()
        code = 0
        if not detach:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
    except BaseException as err:
        report_error(chan, err)
    finally:
        os._exit(code)


def _inside(sys, chan, proc: Process, env, ids, sec, limits) -> None:
    import signal
    code = 125
    try:
        for number, soft, hard in limits:
            sys.setrlimit(number, soft, hard, "process.rlimits")
        if proc.terminal:
            master, slave = os.openpty()
            chan.send({"type": "pty"}, [master])
            os.close(master)
            sys.setsid_ctty(slave, "the pseudo-terminal becomes our controlling terminal")
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
        sys.chdir(proc.cwd, "process.cwd")
        path = find_executable(proc.args[0], env.get("PATH", DEFAULT_PATH))
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        confine(sys, sec, ids)
        try:
            sys.execve(path, proc.args, env, "the command, inside the container")
        except KernelError as err:
            raise exec_error(proc.args[0], err) from err
    except BaseException as err:
        code = getattr(err, "exit_code", 125)
        report_error(chan, err)
    finally:
        os._exit(code)


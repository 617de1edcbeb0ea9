"""``exec``: start another process inside a running container.

There is no special door into a container: a new process simply joins the namespaces
of the container's PID 1 with setns(2), one kind at a time, through the files under
``/proc/PID/ns/``, and joins its cgroup by writing to ``cgroup.procs``. Two details:

* joining a PID namespace only affects the caller's *children* (as unshare does), so
  we fork once more after the setns calls;
* joining the mount namespace moves our root and working directory to that
  namespace's root — the container's overlay — so no chroot is needed, and it is done
  last, after every other /proc/PID/ns file is already open.
"""

from __future__ import annotations

import os
import signal
import threading

from ..errors import KernelError, MiniContainerError
from ..kernel import Syscalls
from ..kernel import constants as C
from .channel import Channel
from .pid1 import DEFAULT_PATH, RESET_SIGNALS, exec_error, find_executable
from .options import parse_env
from .state import require
from .users import resolve_user
from ..oci.launch import process_ids, security_spec
from ..security import confine
from ..security.userns import read_map

#: the order we join them in: mount last (it changes what /proc and / mean for us)
JOIN_ORDER = (("cgroup", C.CLONE_NEWCGROUP), ("ipc", C.CLONE_NEWIPC), ("uts", C.CLONE_NEWUTS),
              ("net", C.CLONE_NEWNET), ("pid", C.CLONE_NEWPID), ("mnt", C.CLONE_NEWNS))


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
    ns_fds = []
    try:
        own_user = os.readlink(rt.proc_root / "self" / "ns" / "user")
        for kind, flag in ((("user", C.CLONE_NEWUSER),) + JOIN_ORDER):
            if kind == "user" and os.readlink(rt.proc_root / str(c.pid) / "ns" / "user") == own_user:
                continue  # the host's user namespace: joining our own would be EINVAL

            path = rt.proc_root / str(c.pid) / "ns" / kind
            try:
                ns_fds.append((kind, flag, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except FileNotFoundError:
                continue
            except OSError as err:
                raise KernelError.from_oserror("open", err, path) from err
        procs = [str(p) for p in rt.cgroup_manager(c.id, sys).procs_files()]
        environment = container_env(rt.proc_root, c.pid)
        environment.update(parse_env(list(env)))
        # the container's own process settings, from its config.json (the one config): capabilities,
        # no_new_privs, seccomp, user and working directory, as docker exec and runc exec inherit them
        spec = rt.config(c)
        security = security_spec(spec, rt.proc_root, single_uid_map=any(kind == "user" for kind, _, _ in ns_fds)
                                 and _single_map(rt, c.pid))
        who = user or process_ids(spec.process.user)
        return _launch(sys, ns_fds, procs, argv, environment, workdir or spec.process.cwd or "/",
                       who, tty, interactive, detach, stdio or {}, security, on_pty, on_pid)
    finally:
        for _, _, fd in ns_fds:
            os.close(fd)


def _launch(sys: Syscalls, ns_fds, procs, argv, env, workdir, user, tty, interactive, detach, stdio,
            security, on_pty=None, on_pid=None) -> int:
    parent, child = Channel.pair()
    status_r, status_w = os.pipe()
    joiner = sys.fork("a process that will join the container's namespaces")
    if joiner == 0:
        code = 125
        try:
            parent.close()
            os.close(status_r)
            if detach:
                os.setsid()
            for path in procs:
                sys.write_file(path, "0", "join the container's cgroup")
            for kind, flag, fd in ns_fds:
                sys.setns(fd, flag, f"join the container's {kind} namespace", label=f"/proc/PID/ns/{kind}")
            pid = sys.fork("born inside the container's PID namespace")
            if pid == 0:
                _inside(sys, child, argv, env, workdir, user, tty, interactive, stdio, security)
            child.send({"type": "pid", "pid": pid})   # our own numbering is the host's: setns(PID) moved only children
            child.close()
            if detach:
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            os.write(status_w, str(status).encode())
            code = 0
        except BaseException as err:  # reported to the runtime; this process only exits
            _report(child, err)
        finally:
            os._exit(code)
    child.close()
    os.close(status_w)
    master = None
    failure = None
    try:
        while True:
            msg, fds = parent.recv()
            if msg is None:
                break
            if msg["type"] == "pty":
                master = fds[0]
            elif msg["type"] == "pid":
                if on_pid is not None:
                    on_pid(msg["pid"])
            elif msg["type"] == "error":
                failure = msg
    finally:
        parent.close()
    if failure is not None:
        os.waitpid(joiner, 0)
        os.close(status_r)
        if master is not None:
            os.close(master)
        err = MiniContainerError(failure["message"], op="exec")
        err.exit_code = failure["exit_code"]
        raise err
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
            relay(master, status_r, interactive=interactive, stdin=stdio.get(0), stdout=stdio.get(1))
        data = b""
        while chunk := os.read(status_r, 64):
            data += chunk
    finally:
        os.close(status_r)
        os.waitpid(joiner, 0)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if not data:
        return 125
    code = os.waitstatus_to_exitcode(int(data))
    return 128 - code if code < 0 else code


def _single_map(rt, pid: int) -> bool:
    """Does the container's user namespace map only one uid (rootless without /etc/subuid)?"""
    try:
        ranges = read_map((rt.proc_root / str(pid) / "uid_map").read_text())
    except OSError:
        return False
    return len(ranges) == 1 and ranges[0][2] == 1


def _report(chan: Channel, err: BaseException) -> None:
    try:
        chan.send({"type": "error", "message": str(err) or type(err).__name__,
                   "exit_code": getattr(err, "exit_code", 125)})
    except OSError:
        pass


def _inside(sys: Syscalls, chan: Channel, argv, env, workdir, user, tty, interactive, stdio,
            security) -> None:
    code = 125
    try:
        home = None
        ids = None
        if isinstance(user, tuple):          # the container's own user, numeric in config.json
            ids = user
        elif user:                           # exec -u NAME: looked up in the container's /etc/passwd
            uid, gid, groups, home = resolve_user(user)
            ids = (uid, gid, groups)
        if tty:
            master, slave = os.openpty()   # from the container's devpts: /dev/ptmx is its own now
            chan.send({"type": "pty"}, [master])
            os.close(master)
            sys.setsid_ctty(slave, "the pseudo-terminal becomes our controlling terminal")
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
        else:
            for target, source in stdio.items():
                os.dup2(source, target)
            if not interactive and 0 not in stdio:
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
        if home is not None:
            env.setdefault("HOME", home)
        sys.chdir(workdir, "the working directory")
        path = find_executable(argv[0], env.get("PATH", DEFAULT_PATH))
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        confine(sys, security, ids)   # the container's capabilities, user, no_new_privs and seccomp, last
        try:
            sys.execve(path, argv, env, "the command, inside the container")
        except KernelError as err:
            raise exec_error(argv[0], err) from err
    except BaseException as err:
        code = getattr(err, "exit_code", 125)
        _report(chan, err)
    finally:
        os._exit(code)

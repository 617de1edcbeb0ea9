"""The Syscalls interface: every privileged kernel call the runtime makes.

Code that needs the kernel is handed a :class:`Syscalls` object rather than calling
``ctypes`` or ``os`` itself (the same idea as youki's ``Syscall`` trait). Two
implementations exist:

* :class:`~minicontainer.kernel.linux.LinuxSyscalls` really calls the kernel;
* :class:`~minicontainer.kernel.recording.RecordingSyscalls` only records what would
  have been called. Unit tests assert on its list of steps, and
  ``minicontainer run --explain --dry-run`` prints it, without root, on any OS.

Each call takes a ``why``: one line saying what the step is for. Both implementations
keep an ordered list of :class:`Step` records, which is what ``--explain`` shows.
"""

from __future__ import annotations

import json
import resource as _resource
from dataclasses import asdict, dataclass
from collections.abc import Callable, Sequence

from . import constants as C

from time import monotonic as _now


@dataclass
class Step:
    """One kernel call: its name, its arguments rendered for people, and why it was made."""

    call: str
    args: str
    why: str
    where: str = "runtime"       # which process made it: "runtime", "monitor" or "container"
    error: str | None = None     # set when the call failed
    t: float = 0.0               # time.monotonic() when the call was made (same clock in every process)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Step":
        return cls(**json.loads(text))


class Syscalls:
    """The interface. Public methods record a :class:`Step`, then run the real call.

    Subclasses provide the ``_sys_*`` methods; :meth:`_run` decides whether they run.
    """

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.where = "runtime"
        self.on_step: Callable[[Step], None] | None = None

    # -- bookkeeping -------------------------------------------------------
    def _run(self, call: str, args: str, why: str, thunk: Callable[[], object], typed: dict):
        """Record the step (``args`` rendered for people), then run ``thunk``. ``typed`` holds the
        same arguments as values (flags as ints, paths as given): the recording double keeps them."""
        step = Step(call=call, args=args, why=why, where=self.where, t=_now())
        self.steps.append(step)
        self._emit(step)  # before the call: a successful execve never returns
        try:
            return thunk()
        except Exception as err:  # re-raised; the step keeps a note of it and is sent again
            step.error = str(err)
            self._emit(step)
            raise

    def _emit(self, step: Step) -> None:
        if self.on_step is not None:
            self.on_step(step)

    # -- namespaces --------------------------------------------------------
    def unshare(self, flags: int, why: str) -> None:
        """unshare(2): move this process into new namespaces of the given kinds."""
        return self._run("unshare", C.flag_names(flags, C.CLONE_NAMES), why, lambda: self._sys_unshare(flags),
                         dict(flags=flags))

    def setns(self, fd: int, nstype: int, why: str, *, label: str = "") -> None:
        """setns(2): join the namespace that ``fd`` (an open /proc/PID/ns/* file) refers to."""
        args = f"{label or fd}, {C.flag_names(nstype, C.CLONE_NAMES)}"
        return self._run("setns", args, why, lambda: self._sys_setns(fd, nstype), dict(fd=fd, nstype=nstype))

    def fork(self, why: str, *, peer: Callable[[], object] | None = None) -> int:
        """fork(2): after unshare(CLONE_NEWPID) the child becomes PID 1 of the new namespace.

        ``peer`` is what another process (the runtime) does as soon as it learns the child's PID.
        A real fork leaves that to the other process; the recording double, which walks every
        role itself in one process, does it in place so that the plan keeps its order."""
        return self._run("fork", "", why, self._sys_fork, {})

    # -- mounts ------------------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None,
              why: str) -> None:
        """mount(2)."""
        args = f"{source or 'none'}, {target}, {fstype or 'none'}, {C.flag_names(flags, C.MS_NAMES)}"
        if data:
            args += f", {data}"
        return self._run("mount", args, why, lambda: self._sys_mount(source, target, fstype, flags, data),
                         dict(source=source, target=target, fstype=fstype, flags=flags, data=data))

    def umount2(self, target: str, flags: int, why: str) -> None:
        """umount2(2); MNT_DETACH makes the mount vanish now and be freed when unused."""
        args = f"{target}, {'MNT_DETACH' if flags & C.MNT_DETACH else flags}"
        return self._run("umount2", args, why, lambda: self._sys_umount2(target, flags),
                         dict(target=target, flags=flags))

    def pivot_root(self, new_root: str, put_old: str, why: str) -> None:
        """pivot_root(2): make ``new_root`` the root of this mount namespace."""
        return self._run("pivot_root", f"{new_root}, {put_old}", why, lambda: self._sys_pivot_root(new_root, put_old),
                         dict(new_root=new_root, put_old=put_old))

    def chroot(self, path: str, why: str) -> None:
        """chroot(2): change only this process's idea of '/' (no mount changes)."""
        return self._run("chroot", path, why, lambda: self._sys_chroot(path), dict(path=path))

    def chdir(self, path: str, why: str) -> None:
        """chdir(2)."""
        return self._run("chdir", path, why, lambda: self._sys_chdir(path), dict(path=path))

    # -- files the runtime creates ----------------------------------------
    def mkdir(self, path: str, mode: int, why: str) -> None:
        """mkdir(2), tolerating a directory that already exists."""
        return self._run("mkdir", f"{path}, {mode:o}", why, lambda: self._sys_mkdir(path, mode),
                         dict(path=path, mode=mode))

    def rmdir(self, path: str, why: str) -> None:
        """rmdir(2) (for a cgroup this removes it; it must hold no process)."""
        return self._run("rmdir", path, why, lambda: self._sys_rmdir(path), dict(path=path))

    def mknod(self, path: str, mode: int, major: int, minor: int, why: str) -> None:
        """mknod(2): a character device ``major:minor``, or (S_IFREG) an empty regular file."""
        import stat
        kind = f"c {major}:{minor}" if stat.S_ISCHR(mode) else "file"
        return self._run("mknod", f"{path}, {kind}, {mode & 0o7777:o}", why,
                         lambda: self._sys_mknod(path, mode, major, minor),
                         dict(path=path, mode=mode, major=major, minor=minor))

    def symlink(self, target: str, path: str, why: str) -> None:
        """symlink(2)."""
        return self._run("symlink", f"{path} -> {target}", why, lambda: self._sys_symlink(target, path),
                         dict(target=target, path=path))

    def setxattr(self, path: str, name: str, value: bytes, why: str) -> None:
        """lsetxattr(2): set an extended attribute (``trusted.*`` needs CAP_SYS_ADMIN), links not followed."""
        return self._run("setxattr", f"{path}, {name}={value!r}", why, lambda: self._sys_setxattr(path, name, value),
                         dict(path=path, name=name, value=value))

    def write_file(self, path: str, data: str, why: str) -> None:
        """write(2) into an existing kernel file such as cgroup.procs."""
        return self._run("write", f"{path} <- {data!r}", why, lambda: self._sys_write_file(path, data),
                         dict(path=path, data=data))

    # -- the process itself -----------------------------------------------
    def sethostname(self, name: str, why: str) -> None:
        """sethostname(2): only visible inside the UTS namespace."""
        return self._run("sethostname", name, why, lambda: self._sys_sethostname(name), dict(name=name))

    def prctl(self, option: int, arg: int, why: str, *, label: str = "", arg3: int = 0) -> None:
        """prctl(2); ``arg3`` for the options that take a second argument (PR_CAP_AMBIENT)."""
        args = f"{label or option}, {arg}" + (f", {arg3}" if arg3 else "")
        return self._run("prctl", args, why, lambda: self._sys_prctl(option, arg, arg3),
                         dict(option=option, arg=arg, arg3=arg3))

    def capset(self, effective: int, permitted: int, inheritable: int, why: str) -> None:
        """capset(2): set this thread's effective, permitted and inheritable capability sets (64-bit masks)."""
        args = f"eff={effective:#x}, prm={permitted:#x}, inh={inheritable:#x}"
        return self._run("capset", args, why, lambda: self._sys_capset(effective, permitted, inheritable),
                         dict(effective=effective, permitted=permitted, inheritable=inheritable))

    def seccomp_filter(self, program: bytes, why: str, *, label: str = "") -> None:
        """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog): install a classic-BPF syscall filter.

        ``program`` is the filter's instructions, 8 bytes each (struct sock_filter). The
        filter is inherited across fork and execve and can never be removed.
        """
        args = f"{label + ', ' if label else ''}{len(program) // 8} BPF instructions"
        return self._run("seccomp", args, why, lambda: self._sys_seccomp_filter(program), dict(program=program))

    def run_helper(self, argv: Sequence[str], why: str) -> None:
        """Run a privileged helper program to completion (newuidmap(1), newgidmap(1))."""
        return self._run("spawn", " ".join(argv), why, lambda: self._sys_run_helper(list(argv)), dict(argv=argv))

    def link_up(self, ifname: str, why: str) -> None:
        """ioctl(SIOCSIFFLAGS, IFF_UP) on an interface of this network namespace."""
        return self._run("ioctl", f"SIOCSIFFLAGS {ifname} IFF_UP", why, lambda: self._sys_link_up(ifname),
                         dict(ifname=ifname))

    def setsid_ctty(self, fd: int, why: str) -> None:
        """setsid(2) then ioctl(TIOCSCTTY): make the terminal on ``fd`` our controlling tty."""
        return self._run("setsid+TIOCSCTTY", str(fd), why, lambda: self._sys_setsid_ctty(fd), dict(fd=fd))

    def kill(self, pid: int, sig: int, why: str) -> None:
        """kill(2): send signal ``sig`` to process ``pid`` (e.g. SIGKILL to what is left in a cgroup)."""
        return self._run("kill", f"{pid}, {sig}", why, lambda: self._sys_kill(pid, sig), dict(pid=pid, sig=sig))

    def pidfd_open(self, pid: int, why: str) -> int | None:
        """pidfd_open(2): a descriptor that poll(2) reports readable once process ``pid`` has exited,
        whoever its parent is (Linux 5.3). The caller closes it."""
        return self._run("pidfd_open", str(pid), why, lambda: self._sys_pidfd_open(pid), dict(pid=pid))

    def switch_user(self, uid: int, gid: int, groups: Sequence[int], why: str) -> None:
        """setgroups(2), setgid(2), setuid(2), in that order (after setuid we could not change the rest)."""
        return self._run("setuid", f"uid={uid} gid={gid} groups={list(groups)}", why,
                         lambda: self._sys_switch_user(uid, gid, groups), dict(uid=uid, gid=gid, groups=groups))

    def setrlimit(self, resource: int, soft: int, hard: int, why: str) -> None:
        """setrlimit(2): the soft and hard limit of one resource (RLIMIT_NOFILE...)."""
        name = next((n for n in dir(_resource) if n.startswith("RLIMIT_") and getattr(_resource, n) == resource),
                    resource)
        return self._run("setrlimit", f"{name}, {soft}, {hard}", why,
                         lambda: self._sys_setrlimit(resource, soft, hard),
                         dict(resource=resource, soft=soft, hard=hard))

    def umask(self, mask: int, why: str) -> None:
        """umask(2): the permission bits taken away from every file this process creates."""
        return self._run("umask", f"{mask:04o}", why, lambda: self._sys_umask(mask), dict(mask=mask))

    def execve(self, path: str, argv: Sequence[str], env: dict[str, str], why: str) -> None:
        """execve(2): replace this process's program; on success it never returns."""
        return self._run("execve", f"{path}, {list(argv)!r}", why, lambda: self._sys_execve(path, argv, env),
                         dict(path=path, argv=argv, env=env))

    # -- process plumbing -------------------------------------------------
    def plumb(self, name: str, thunk: Callable[[], object], *, stand_in: object = None,
              peer: Callable[[], object] | None = None):
        """Process plumbing that ``--explain`` does not list as a step: setsid(2), the dup2(2)s
        and pipes of the standard streams, openpty(3), signal dispositions, a message to the
        runtime and its answer, lookups in the container's own files. Runs ``thunk``.

        The recording double records ``name`` and returns ``stand_in`` instead (a dry run has
        no other process, no streams and no container filesystem to act on), or, for a message
        the runtime answers, runs ``peer`` in the runtime's place and returns what it returns."""
        return thunk()

    def exit(self, code: int, failure: BaseException | None = None) -> None:
        """_exit(2): end a forked process (monitor, PID 1) with ``code``, never returning.
        ``failure`` is the error it has just reported to the runtime, if any: the recording
        double, whose forks are walked in the caller's own process, raises it instead (or, with
        none, ends the plan), as only an exception can leave a path that must not return."""
        import os
        os._exit(code)

    # -- to be provided by an implementation ------------------------------
    def _sys_unshare(self, flags): raise NotImplementedError
    def _sys_setns(self, fd, nstype): raise NotImplementedError
    def _sys_fork(self): raise NotImplementedError
    def _sys_mount(self, source, target, fstype, flags, data): raise NotImplementedError
    def _sys_umount2(self, target, flags): raise NotImplementedError
    def _sys_pivot_root(self, new_root, put_old): raise NotImplementedError
    def _sys_chroot(self, path): raise NotImplementedError
    def _sys_chdir(self, path): raise NotImplementedError
    def _sys_mkdir(self, path, mode): raise NotImplementedError
    def _sys_rmdir(self, path): raise NotImplementedError
    def _sys_mknod(self, path, mode, major, minor): raise NotImplementedError
    def _sys_symlink(self, target, path): raise NotImplementedError
    def _sys_write_file(self, path, data): raise NotImplementedError
    def _sys_setxattr(self, path, name, value): raise NotImplementedError
    def _sys_sethostname(self, name): raise NotImplementedError
    def _sys_prctl(self, option, arg, arg3=0): raise NotImplementedError
    def _sys_capset(self, effective, permitted, inheritable): raise NotImplementedError
    def _sys_seccomp_filter(self, program): raise NotImplementedError
    def _sys_run_helper(self, argv): raise NotImplementedError
    def _sys_link_up(self, ifname): raise NotImplementedError
    def _sys_setsid_ctty(self, fd): raise NotImplementedError
    def _sys_kill(self, pid, sig): raise NotImplementedError
    def _sys_pidfd_open(self, pid): raise NotImplementedError
    def _sys_switch_user(self, uid, gid, groups): raise NotImplementedError
    def _sys_execve(self, path, argv, env): raise NotImplementedError
    def _sys_setrlimit(self, resource, soft, hard): raise NotImplementedError
    def _sys_umask(self, mask): raise NotImplementedError

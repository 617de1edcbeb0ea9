"""The least a container runtime written in Python must do to run ``/bin/true``.

A reference row for ``start_latency.py``, not a runtime: no state, no image store, no
monitor, no logs, no seccomp, no capabilities. It imports nothing but ``os``, ``sys``
and ``ctypes`` and does, in the cheapest order, the steps no runtime can skip:

1. one cgroup per v1 controller minicontainer uses (or one v2 cgroup), under the
   caller's own cgroup (mkdir(2));
2. a PID 1 in new pid, mount, uts, ipc and net namespaces (unshare(2) + fork(2));
3. while PID 1 mounts its overlay root, /proc, /sys and /dev and calls pivot_root(2),
   the parent moves it into the cgroups (a write to ``cgroup.procs``); the two overlap,
   which is the best any runtime can do, because a cgroup v1 migration waits for an
   RCU grace period (the kernel's ``cgroup_threadgroup_rwsem``): runc pays it too;
4. execve(2) ``/bin/true``, waitpid(2), then remove the cgroups and the overlay's
   upper and work directories.

If even this, started by the same interpreter as the ``minicontainer`` console script,
is slower than the target, no Python CLI can meet the target on this machine.

Usage (root): ``python python_floor.py WORKDIR LOWERDIR [CGROUP_ROOT [PROC_ROOT]]``.
``--phases`` first prints, on stderr, how long the cgroup migration waited.
"""

import os
import sys
import time
from ctypes import CDLL, get_errno

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWNET, CLONE_NEWPID = 0x40000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 1 << 18
MNT_DETACH, SYS_PIVOT_ROOT = 2, 155
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "freezer", "memory", "pids")

libc = CDLL(None, use_errno=True)


def check(ret, what):
    if ret != 0:
        err = get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def cgroup_dirs(cgroup_root, proc_root, name):
    """One new cgroup per mounted v1 controller we use, or one v2 cgroup, each under the
    caller's own (from /proc/self/cgroup, see cgroups(7))."""
    mine = {}
    with open(f"{proc_root}/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(","):
                mine[c] = path
    if os.path.exists(f"{cgroup_root}/cgroup.controllers"):
        return [f"{cgroup_root}{mine['']}/{name}".replace("//", "/")]
    return [f"{cgroup_root}/{c}{mine[c]}/{name}".replace("//", "/") for c in CONTROLLERS
            if c in mine and os.path.isdir(f"{cgroup_root}/{c}")]


def make_cgroups(dirs):
    made = []
    try:
        for d in dirs:
            os.mkdir(d)
            made.append(d)
            if "/cpuset/" in d:                 # v1 cpuset starts empty: copy the parent's
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(f"{os.path.dirname(d)}/{f}") as src, open(f"{d}/{f}", "w") as dst:
                        dst.write(src.read())
    except BaseException:
        remove_cgroups(made)
        raise
    return made


def remove_cgroups(dirs):
    for d in reversed(dirs):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass


def pid1(ctr, lower, ready_w, go_r):
    """In the child: new namespaces, the root filesystem, wait for the cgroups, exec."""
    try:
        check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
        check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        m = f"{ctr}/merged".encode()
        opts = f"lowerdir={lower},upperdir={ctr}/upper,workdir={ctr}/work".encode()
        check(libc.mount(b"overlay", m, b"overlay", 0, opts), "mount overlay")
        for src, where, fstype, flags, data in (
                (b"proc", b"/proc", b"proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
                (b"sysfs", b"/sys", b"sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
                (b"tmpfs", b"/dev", b"tmpfs", MS_NOSUID, b"mode=755")):
            check(libc.mount(src, m + where, fstype, flags, data), f"mount {fstype.decode()}")
        for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)):
            os.mknod(f"{ctr}/merged/dev/{name}", 0o20666, os.makedev(1, minor))
        os.chdir(m)
        check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
        check(libc.umount2(b".", MNT_DETACH), "umount old root")
        os.chdir("/")
        check(libc.sethostname(b"floor", 5), "sethostname")
        os.write(ready_w, b"r")
        if os.read(go_r, 1) != b"g":
            os._exit(125)
        os.execv("/bin/true", ["/bin/true"])
    except BaseException as err:                # never return into the parent's code
        print(f"python_floor: {err}", file=sys.stderr)
    os._exit(125)


def main(argv):
    phases = "--phases" in argv
    argv = [a for a in argv if a != "--phases"]
    if len(argv) not in (2, 3, 4):
        print("usage: python_floor.py [--phases] WORKDIR LOWERDIR [CGROUP_ROOT [PROC_ROOT]]", file=sys.stderr)
        return 2
    work, lower = argv[0], argv[1]
    cgroup_root = argv[2] if len(argv) > 2 else "/sys/fs/cgroup"
    proc_root = argv[3] if len(argv) > 3 else "/proc"
    name = f"pyfloor-{os.getpid()}"
    ctr = f"{work}/{name}"
    cgroups = make_cgroups(cgroup_dirs(cgroup_root, proc_root, name))
    made = []
    pid = 0
    try:
        for d in (ctr, f"{ctr}/upper", f"{ctr}/work", f"{ctr}/merged"):
            os.mkdir(d)
            made.append(d)
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        check(libc.unshare(CLONE_NEWPID), "unshare pid")        # our next child is PID 1
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            pid1(ctr, lower, ready_w, go_r)
        os.close(ready_w)
        os.close(go_r)
        t0 = time.monotonic()
        for d in cgroups:
            with open(f"{d}/cgroup.procs", "w") as f:
                f.write(str(pid))
        waited = time.monotonic() - t0
        if os.read(ready_r, 1) != b"r":
            raise OSError(0, "PID 1 failed before it was ready")
        os.write(go_w, b"g")
        _, status = os.waitpid(pid, 0)
        pid = 0
        if phases:
            print(f"cgroup migration: {waited * 1000:.1f} ms", file=sys.stderr)
        return os.waitstatus_to_exitcode(status)
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        for d in (f"{ctr}/work/work",) + tuple(reversed(made)):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
        remove_cgroups(cgroups)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as err:
        print(f"python_floor: {err}", file=sys.stderr)
        sys.exit(125)

"""The least a container runtime written in Python must do to run ``/bin/true``.

A reference row for ``start_latency.py``, not a runtime: no state, no image store, no
monitor, no logs, no seccomp, no capabilities, no masked paths. It imports nothing but
``os``, ``sys``, ``time`` and ``ctypes`` and does the steps no runtime can skip, in the
cheapest order we know:

1. one cgroup per v1 controller minicontainer uses (or one v2 cgroup), under the
   caller's own cgroup (mkdir(2));
2. fork(2) a child at once and move it into the cgroups (a write to ``cgroup.procs``).
   On cgroup v1 that write waits for an RCU grace period (the kernel's
   ``cgroup_threadgroup_rwsem``, about ten milliseconds here; runc pays it too), so
   everything else is done in its shadow: the child imports ctypes, unshare(2)s new pid,
   mount, uts, ipc and net namespaces, mounts an overlay root, /sys and /dev, makes the
   device nodes and sets the hostname;
3. once moved, the child forks PID 1 (born in the cgroups, so no second wait), which
   mounts /proc, calls pivot_root(2) and execve(2)s ``/bin/true``;
4. waitpid(2), then remove the cgroups and the overlay's upper and work directories.

A runtime started by the same interpreter as the ``minicontainer`` console script that
does more than this (and a real one must) is slower than this row.

Usage (root): ``python python_floor.py WORKDIR LOWERDIR [CGROUP_ROOT [PROC_ROOT]]``.
``--phases`` first prints, on stderr, how long the cgroup migration waited.
"""

import os
import sys
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWNET, CLONE_NEWPID = 0x40000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 1 << 18
MNT_DETACH, SYS_PIVOT_ROOT = 2, 155
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "freezer", "memory", "pids")


def cgroup_dirs(cgroup_root, proc_root, name):
    """One new cgroup per mounted v1 hierarchy holding a controller we use, or one v2
    cgroup, each under the caller's own (from /proc/self/cgroup, see cgroups(7)).

    Co-mounted controllers share one hierarchy: systemd mounts ``cpu,cpuacct`` and adds
    the symlinks ``cpu`` and ``cpuacct`` to it, other hosts have only the ``cpu,cpuacct``
    directory. Either way that hierarchy gets one cgroup, not one per controller."""
    mine, hierarchy = {}, {}
    with open(f"{proc_root}/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(","):
                mine[c], hierarchy[c] = path, ctrls
    if os.path.exists(f"{cgroup_root}/cgroup.controllers"):
        return [f"{cgroup_root}{mine['']}/{name}".replace("//", "/")]
    dirs, seen = [], set()
    for c in CONTROLLERS:
        if c not in mine:
            continue
        mount = next((d for d in (f"{cgroup_root}/{c}", f"{cgroup_root}/{hierarchy[c]}") if os.path.isdir(d)),
                     None)
        if mount is None or os.path.realpath(mount) in seen:
            continue
        seen.add(os.path.realpath(mount))
        dirs.append(f"{mount}{mine[c]}/{name}".replace("//", "/"))
    return dirs


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


def child(ctr, lower, go_r):
    """The forked child: import ctypes, enter the new namespaces and build the root while
    the parent moves us into the cgroups; once moved, fork PID 1, which mounts /proc,
    pivots into the root and execs. Exits with PID 1's status."""
    try:
        from ctypes import CDLL, get_errno     # imported here, in the grace period's shadow

        libc = CDLL(None, use_errno=True)

        def check(ret, what):
            if ret != 0:
                err = get_errno()
                raise OSError(err, f"{what}: {os.strerror(err)}")

        check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID), "unshare")
        check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        m = f"{ctr}/merged".encode()
        opts = f"lowerdir={lower},upperdir={ctr}/upper,workdir={ctr}/work".encode()
        check(libc.mount(b"overlay", m, b"overlay", 0, opts), "mount overlay")
        check(libc.mount(b"sysfs", m + b"/sys", b"sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
              "mount sysfs")
        check(libc.mount(b"tmpfs", m + b"/dev", b"tmpfs", MS_NOSUID, b"mode=755"), "mount tmpfs")
        for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)):
            os.mknod(f"{ctr}/merged/dev/{name}", 0o20666, os.makedev(1, minor))
        check(libc.sethostname(b"floor", 5), "sethostname")
        if os.read(go_r, 1) != b"g":            # not moved into the cgroups: PID 1 must not start
            os._exit(125)
        pid = os.fork()                         # PID 1 of the new pid namespace, born in our cgroups
        if pid == 0:
            check(libc.mount(b"proc", m + b"/proc", b"proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
                  "mount proc")                 # by PID 1: /proc shows its own pid namespace
            os.chdir(m)
            check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
            check(libc.umount2(b".", MNT_DETACH), "umount old root")
            os.chdir("/")
            os.execv("/bin/true", ["/bin/true"])
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
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
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            child(ctr, lower, go_r)
        os.close(go_r)
        t0 = time.monotonic()
        for d in cgroups:
            with open(f"{d}/cgroup.procs", "w") as f:
                f.write(str(pid))
        waited = time.monotonic() - t0
        os.write(go_w, b"g")
        os.close(go_w)
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


def run(argv):
    """main() with one-line errors: the exit status."""
    try:
        return main(argv)
    except OSError as err:
        print(f"python_floor: {err}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

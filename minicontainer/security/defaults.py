"""The default seccomp profile and the default masked and read-only paths.

The default profile is an *allow-list*, like Docker's: the system calls an ordinary
program makes are listed by what they are for, and everything else fails with EPERM
(``defaultAction: SCMP_ACT_ERRNO``). A call the list does not know, from a kernel newer
than the list, fails with ENOSYS instead, so that the C library falls back to an older
call (see :mod:`.seccomp`). What stays out is what acts on the whole machine rather than
on the container:

* keyrings (keyctl, add_key, request_key): the kernel keyring is not namespaced;
* mounts and namespaces (mount, umount2, pivot_root, the new mount API, unshare, setns,
  clone with namespace flags, clone3): the way out of a container's view;
* kernel code (init_module, finit_module, delete_module, kexec_load, bpf,
  perf_event_open, io_uring): running or loading code in the kernel, or a large attack
  surface;
* open_by_handle_at and name_to_handle_at: files by inode handle, bypassing the mount
  tree (the "shocker" escape of 2014);
* the clock, reboot, swap, process accounting, I/O ports, userfaultfd, the kernel log.

As in Docker, a container that is *given* a capability gets the calls that need it
(``--cap-add SYS_ADMIN`` brings mount and unshare back): those rules carry
``includes: {caps: [...]}``; ``excludes`` take away a conditional rule when the
capability makes it unnecessary. It refuses at least everything Docker's default profile
refuses (a unit test compares the two filters call by call), and a little more: device
nodes without CAP_SYS_ADMIN (Docker leaves them to the devices cgroup), adjtimex and
clock_adjtime without CAP_SYS_TIME, name_to_handle_at without CAP_DAC_READ_SEARCH,
modify_ldt, and a few obsolete calls.
"""

from __future__ import annotations

import errno

#: the namespace flags of clone(2): NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NAMESPACE_MASK = 0x7E020000
S_IFMT = 0o170000                                                 # inode(7): the file type in st_mode
NODE_KINDS = (0, 0o100000, 0o010000, 0o140000)                   # regular (0 means regular too), FIFO, socket
AF_ALG, AF_NFC, AF_VSOCK = 38, 39, 40                            # address_families(7)
PER_LINUX, PER_LINUX32, PERSONALITY_QUERY = 0, 0x0008, 0xFFFFFFFF  # personality(2)

#: what an ordinary program calls, by purpose (names of every ABI: the i386 table has its
#: 64-bit-file variants such as fstat64, chown32, _llseek, mmap2)
ORDINARY = {
    "file descriptors and their data": [
        "open", "openat", "openat2", "creat", "close", "close_range", "read", "write", "readv", "writev",
        "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "lseek", "_llseek", "dup", "dup2",
        "dup3", "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
        "truncate", "truncate64", "ftruncate", "ftruncate64", "fallocate", "fadvise64", "fadvise64_64",
        "readahead", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "pipe", "pipe2"],
    "file metadata": [
        "stat", "fstat", "lstat", "newfstatat", "stat64", "fstat64", "lstat64", "fstatat64", "statx", "statfs",
        "fstatfs", "statfs64", "fstatfs64", "access", "faccessat", "faccessat2", "chmod", "fchmod", "fchmodat",
        "fchmodat2", "chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32", "utime",
        "utimes", "futimesat", "utimensat", "utimensat_time64", "umask", "getxattr", "lgetxattr", "fgetxattr",
        "getxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "listxattr", "llistxattr",
        "flistxattr", "listxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat", "cachestat"],
    "directories and names": [
        "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link",
        "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "getdents",
        "getdents64", "statmount", "listmount"],
    "waiting for events": [
        "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64", "epoll_create",
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
        "signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime",
        "timerfd_gettime64", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        "fanotify_mark", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
        "io_pgetevents_time64"],
    "memory": [
        "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
        "munlock", "mlockall", "munlockall", "remap_file_pages", "membarrier", "memfd_create", "memfd_secret",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "mseal", "map_shadow_stack"],
    "processes and threads": [
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid", "getpid",
        "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address", "prctl",
        "set_thread_area", "get_thread_area", "set_robust_list", "get_robust_list", "futex", "futex_time64",
        "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "rseq", "restart_syscall", "seccomp",
        "capget", "capset", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "times",
        "pidfd_open", "pidfd_send_signal", "process_mrelease", "landlock_create_ruleset", "landlock_add_rule",
        "landlock_restrict_self"],
    "scheduling": [
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
        "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_getattr", "sched_setattr",
        "getpriority", "setpriority", "ioprio_get", "ioprio_set", "getcpu"],
    "signals and timers": [
        "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
        "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
        "sigaltstack", "sigreturn", "sigprocmask", "pause", "alarm", "getitimer", "setitimer", "timer_create",
        "timer_delete", "timer_settime", "timer_settime64", "timer_gettime", "timer_gettime64",
        "timer_getoverrun"],
    "who we are (the kernel checks CAP_SETUID/CAP_SETGID)": [
        "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid",
        "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "getuid32",
        "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32", "getgroups32", "setuid32",
        "setgid32", "setreuid32", "setregid32", "setresuid32", "setresgid32", "setgroups32", "setfsuid32",
        "setfsgid32"],
    "reading the clock and the machine": [
        "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
        "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "uname", "sysinfo", "getrandom"],
    "sockets (socket(2) itself is checked below)": [
        "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "sendto",
        "recvfrom", "send", "recv", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "shutdown",
        "setsockopt", "getsockopt",
        "socketcall"],   # i386's multiplexer of all of these, which 32-bit glibc uses; it skips the family check

    "System V and POSIX IPC (namespaced per container)": [
        "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl",
        "msgget", "msgsnd", "msgrcv", "msgctl", "ipc", "mq_open", "mq_unlink", "mq_timedsend",
        "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr"],
}

#: calls a container gets only when it holds the capability the kernel checks for them
WITH_CAPABILITY = {
    "CAP_SYS_ADMIN": ["mount", "umount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
                      "fspick", "mount_setattr", "unshare", "setns", "clone", "clone3", "sethostname",
                      "setdomainname", "quotactl", "quotactl_fd", "fanotify_init", "bpf", "perf_event_open",
                      "syslog", "mknod", "mknodat"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_PTRACE": ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                       "process_madvise"],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_MODULE": ["init_module", "finit_module", "delete_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime",
                     "clock_adjtime64"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind"],
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at", "name_to_handle_at"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}


def _allow(names, comment, **more):
    return {"names": list(names), "action": "SCMP_ACT_ALLOW", "comment": comment, **more}


def _arg(index, op, value, value_two=0):
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


NO_SYS_ADMIN = {"caps": ["CAP_SYS_ADMIN"]}

DEFAULT_PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": errno.EPERM,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        *[_allow(names, purpose) for purpose, names in ORDINARY.items()],
        _allow(["arch_prctl"], "x86's thread-local storage (the %fs base): every program needs it at start",
               includes={"arches": ["amd64", "x32"]}),
        _allow(["ptrace", "process_vm_readv", "process_vm_writev"], "strace and gdb on the container's own "
               "processes; before Linux 4.8 ptrace could change a call after seccomp had checked it",
               includes={"minKernel": "4.8"}),
        # socket(2): every address family but AF_ALG (the kernel's crypto, a source of exploits)
        # and AF_VSOCK (a channel to the hypervisor)
        _allow(["socket"], "families below AF_ALG", args=[_arg(0, "SCMP_CMP_LT", AF_ALG)]),
        _allow(["socket"], "AF_NFC", args=[_arg(0, "SCMP_CMP_EQ", AF_NFC)]),
        _allow(["socket"], "families above AF_VSOCK", args=[_arg(0, "SCMP_CMP_GT", AF_VSOCK)]),
        # personality(2): Linux and 32-bit Linux (linux32), and asking; not READ_IMPLIES_EXEC and friends
        *[_allow(["personality"], "harmless personalities", args=[_arg(0, "SCMP_CMP_EQ", value)])
          for value in (PER_LINUX, PER_LINUX32, PERSONALITY_QUERY)],
        # clone(2) for fork and threads; with a namespace flag only with CAP_SYS_ADMIN (s390 swaps
        # the first two arguments); clone3 keeps its flags in memory a filter cannot read, so ENOSYS
        # makes the C library fall back to clone
        _allow(["clone"], "no namespace flags", excludes={**NO_SYS_ADMIN, "arches": ["s390", "s390x"]},
               args=[_arg(0, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_MASK, 0)]),
        _allow(["clone"], "no namespace flags (s390)", includes={"arches": ["s390", "s390x"]},
               excludes=NO_SYS_ADMIN, args=[_arg(1, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_MASK, 0)]),
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS, "excludes": NO_SYS_ADMIN,
         "comment": "fall back to clone"},
        # mknod(2) of files, FIFOs and sockets; a device node (of the host's disk, say) only with
        # CAP_SYS_ADMIN
        *[_allow([call], "not a device", excludes=NO_SYS_ADMIN, args=[_arg(index, "SCMP_CMP_MASKED_EQ", S_IFMT, kind)])
          for call, index in (("mknod", 1), ("mknodat", 2)) for kind in NODE_KINDS],
        *[_allow(names, f"needs {cap}", includes={"caps": [cap]}) for cap, names in WITH_CAPABILITY.items()],
    ],
}

#: files and directories hidden from the container (Docker's defaults): kernel memory,
#: keys, timers and scheduler internals that leak host information or are dangerous to read
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
#: visible but read-only: writing here changes the host's kernel (sysctl, sysrq, IRQ affinity)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

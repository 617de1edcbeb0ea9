"""The default seccomp profile and the default masked and read-only paths.

Docker's default profile is an allow-list of about 350 system calls; everything else
fails with EPERM. Ours is written the other way round, as a *deny-list* in the same
JSON format, so that a trainee can read in one screen what a container may not do, and
why. It denies the calls that act on the whole machine rather than on the container:

* keyrings (keyctl, add_key, request_key): the kernel keyring is not namespaced;
* mounts and namespaces (mount, umount2, pivot_root, the new mount API, unshare, setns,
  clone/clone3 with namespace flags): the way out of a container's view;
* kernel code (init_module, finit_module, delete_module, kexec_load, kexec_file_load,
  bpf, perf_event_open): running or loading code in the kernel itself;
* open_by_handle_at: opens a file by inode handle, bypassing the mount tree (the
  "shocker" escape of 2014);
* the clock, reboot, swap, accounting, I/O ports, userfaultfd, kernel logs.

As in Docker, a container that is *given* the matching capability (``--cap-add
SYS_ADMIN``) gets the matching calls back: rules carry ``excludes: {caps: [...]}``.
"""

from __future__ import annotations

import errno

#: the namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
S_IFMT, S_IFCHR, S_IFBLK = 0o170000, 0o020000, 0o060000   # inode(7): file types in st_mode


def _deny(names, caps=None, comment=""):
    rule = {"names": list(names), "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM, "comment": comment}
    if caps:
        rule["excludes"] = {"caps": list(caps)}
    return rule


DEFAULT_PROFILE = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []}],
    "syscalls": [
        _deny(["keyctl", "add_key", "request_key"], comment="the kernel keyring is not namespaced"),
        _deny(["mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
               "fspick", "mount_setattr", "open_tree_attr"], ["CAP_SYS_ADMIN"], "mounts"),
        _deny(["unshare", "setns"], ["CAP_SYS_ADMIN"], "new namespaces: a user namespace would give back "
                                                       "every capability inside it"),
        # clone(2) without namespace flags (fork, threads) stays allowed; with any of them, denied:
        # one rule per flag, each true when (flags & FLAG) == FLAG
        *[{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
           "excludes": {"caps": ["CAP_SYS_ADMIN"]},
           "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
           "comment": "clone with a namespace flag"} for flag in CLONE_NAMESPACE_FLAGS],
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]},
         "comment": "its flags are in memory a filter cannot read: ENOSYS makes the C library fall back "
                    "to clone, whose flags we can check"},
        # mknod(2) of FIFOs, sockets and files stays allowed; of a device, denied: a block device
        # node of the host's disk would give raw access to it (Docker relies on the devices cgroup)
        *[{"names": [call], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM, "excludes": {"caps": ["CAP_SYS_ADMIN"]},
           "args": [{"index": index, "value": S_IFMT, "valueTwo": kind, "op": "SCMP_CMP_MASKED_EQ"}],
           "comment": "device nodes"}
          for call, index in (("mknod", 1), ("mknodat", 2)) for kind in (S_IFCHR, S_IFBLK)],
        _deny(["init_module", "finit_module", "delete_module", "create_module", "query_module",
               "get_kernel_syms"], ["CAP_SYS_MODULE"], "kernel modules"),
        _deny(["kexec_load", "kexec_file_load", "reboot"], ["CAP_SYS_BOOT"], "replace or stop the kernel"),
        _deny(["bpf"], ["CAP_SYS_ADMIN", "CAP_BPF"], "programs that run in the kernel"),
        _deny(["perf_event_open"], ["CAP_SYS_ADMIN", "CAP_PERFMON"], "kernel profiling can leak host data"),
        _deny(["open_by_handle_at", "name_to_handle_at"], ["CAP_DAC_READ_SEARCH"],
              "file handles bypass the mount tree (the 'shocker' escape)"),
        _deny(["clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "stime"], ["CAP_SYS_TIME"],
              "the clock is not namespaced"),
        _deny(["swapon", "swapoff"], ["CAP_SYS_ADMIN"], "swap is machine-wide"),
        _deny(["acct"], ["CAP_SYS_PACCT"], "process accounting is machine-wide"),
        _deny(["iopl", "ioperm"], ["CAP_SYS_RAWIO"], "raw I/O ports"),
        _deny(["userfaultfd"], ["CAP_SYS_PTRACE"], "a favourite tool of kernel exploits"),
        _deny(["syslog"], ["CAP_SYSLOG"], "the kernel log is not namespaced"),
        _deny(["lookup_dcookie", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "vhangup", "vm86",
               "vm86old", "quotactl", "quotactl_fd"], ["CAP_SYS_ADMIN"], "obsolete or machine-wide"),
    ],
}

#: files and directories hidden from the container (Docker's defaults): kernel memory,
#: keys, timers and scheduler internals that leak host information or are dangerous to read
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
#: visible but read-only: writing here changes the host's kernel (sysctl, sysrq, IRQ affinity)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

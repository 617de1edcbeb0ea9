"""Flag values from the Linux UAPI headers, named as in C.

See clone(2), mount(2), umount(2), prctl(2). They are the same on every architecture
Linux supports for these calls, so they are plain integers here.
"""

# clone(2) / unshare(2) namespace flags
CLONE_NEWNS = 0x00020000      # mount namespace            (mount_namespaces(7))
CLONE_NEWCGROUP = 0x02000000  # cgroup namespace           (cgroup_namespaces(7))
CLONE_NEWUTS = 0x04000000     # hostname and domain name   (uts_namespaces(7))
CLONE_NEWIPC = 0x08000000     # System V IPC, POSIX mqueues (ipc_namespaces(7))
CLONE_NEWUSER = 0x10000000    # user and group IDs          (user_namespaces(7))
CLONE_NEWPID = 0x20000000     # process IDs                 (pid_namespaces(7))
CLONE_NEWNET = 0x40000000     # network stack               (network_namespaces(7))

NAMESPACE_FLAGS = {
    "mnt": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
}

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MS_SYNCHRONOUS = 16
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_UNBINDABLE = 1 << 17
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21

# umount2(2) flags
MNT_DETACH = 2

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24           # drop one capability from the bounding set (capabilities(7))
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_CAP_AMBIENT_RAISE = 2
PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36

# seccomp(2)
SECCOMP_MODE_FILTER = 2

# capset(2): _LINUX_CAPABILITY_VERSION_3 (two 32-bit words per set)
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# ioctl(2) requests used on sockets and terminals
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
TIOCSCTTY = 0x540E


def flag_names(value: int, table: dict[str, int]) -> str:
    """Render a bit mask as ``A|B`` using the names in ``table`` (for --explain)."""
    names = [name for name, bit in table.items() if bit and value & bit == bit]
    rest = value
    for name in names:
        rest &= ~table[name]
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


CLONE_NAMES = {
    "CLONE_NEWNS": CLONE_NEWNS, "CLONE_NEWCGROUP": CLONE_NEWCGROUP, "CLONE_NEWUTS": CLONE_NEWUTS,
    "CLONE_NEWIPC": CLONE_NEWIPC, "CLONE_NEWUSER": CLONE_NEWUSER, "CLONE_NEWPID": CLONE_NEWPID,
    "CLONE_NEWNET": CLONE_NEWNET,
}
MS_NAMES = {
    "MS_RDONLY": MS_RDONLY, "MS_NOSUID": MS_NOSUID, "MS_NODEV": MS_NODEV, "MS_NOEXEC": MS_NOEXEC,
    "MS_REMOUNT": MS_REMOUNT, "MS_BIND": MS_BIND, "MS_MOVE": MS_MOVE, "MS_REC": MS_REC,
    "MS_PRIVATE": MS_PRIVATE, "MS_SLAVE": MS_SLAVE, "MS_STRICTATIME": MS_STRICTATIME,
    "MS_SYNCHRONOUS": MS_SYNCHRONOUS, "MS_MANDLOCK": MS_MANDLOCK, "MS_DIRSYNC": MS_DIRSYNC,
    "MS_NOSYMFOLLOW": MS_NOSYMFOLLOW, "MS_NOATIME": MS_NOATIME, "MS_NODIRATIME": MS_NODIRATIME,
    "MS_UNBINDABLE": MS_UNBINDABLE, "MS_SHARED": MS_SHARED, "MS_RELATIME": MS_RELATIME,
}

"""Capabilities: root's power, cut into pieces (capabilities(7)).

Since Linux 2.2 "root" is not one privilege but about forty *capabilities*:
CAP_NET_ADMIN to configure interfaces, CAP_SYS_ADMIN for mount(2) and many more,
CAP_SYS_MODULE to load kernel modules, CAP_CHOWN to give files away... A process
carries five sets of them:

* **effective**: what the kernel checks right now;
* **permitted**: what the process may make effective (an upper bound it can only lower);
* **inheritable**: what may pass to a program it executes (with file capabilities);
* **bounding**: what the process and its descendants can *ever* get back, even by
  executing a set-user-ID-root or file-capability program; lowered one capability at a
  time with ``prctl(PR_CAPBSET_DROP)`` and never raised again;
* **ambient**: what survives execve(2) of an ordinary program (we keep it empty).

A container's root is uid 0, so without this step it would hold every capability of
the host's root. Docker keeps 14 of them (below): enough for what package managers and
daemons need inside (chown, setuid, binding port 80...), and none that reaches the
kernel itself (no CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME, CAP_NET_ADMIN...).

The runtime drops everything else from the bounding set first (that needs CAP_SETPCAP,
which we still have), then sets the other three sets with capset(2). ``grep Cap
/proc/self/status`` shows the result as hexadecimal masks (bit N = capability N);
:func:`decode` turns such a mask back into names.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import UsageError

#: capability number -> name, from linux/capability.h
NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
NUMBERS = {f"CAP_{name}": n for n, name in enumerate(NAMES)}

#: Docker's default set (moby's oci/caps/defaults.go), 14 capabilities
DEFAULT = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
           "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
           "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")


def normalize(name: str) -> str:
    """``sys_admin``, ``SYS_ADMIN`` and ``CAP_SYS_ADMIN`` all mean ``CAP_SYS_ADMIN``; ``all`` is ``ALL``."""
    text = name.strip().upper()
    if text == "ALL":
        return "ALL"
    if not text.startswith("CAP_"):
        text = "CAP_" + text
    if text not in NUMBERS:
        raise UsageError(f"unknown capability {name!r}", op="capabilities")
    return text


def resolve(add: Iterable[str] = (), drop: Iterable[str] = (), privileged: bool = False,
            last_cap: int = len(NAMES) - 1) -> list[str]:
    """The capability names a container keeps, by Docker's rules.

    Start from the default 14 (every capability the kernel knows when ``privileged`` or
    with ``--cap-add ALL``; none with ``--cap-drop ALL``), then add, then drop. A
    capability both added and dropped is dropped, except that ``--cap-drop ALL
    --cap-add X`` keeps exactly X, as in Docker.
    """
    add = [normalize(n) for n in add]
    drop = [normalize(n) for n in drop]
    everything = [f"CAP_{NAMES[n]}" for n in range(min(last_cap, len(NAMES) - 1) + 1)]
    if privileged or ("ALL" in add and "ALL" not in drop):
        keep = list(everything)
    elif "ALL" in drop:
        keep = []
    else:
        keep = list(DEFAULT)
    for name in add:
        if name != "ALL" and name not in keep:
            keep.append(name)
    if "ALL" not in drop:
        keep = [n for n in keep if n not in drop]
    return sorted(keep, key=NUMBERS.__getitem__)


def mask(names: Iterable[str]) -> int:
    """The bit mask of ``names`` (bit N set for capability number N)."""
    out = 0
    for name in names:
        out |= 1 << NUMBERS[normalize(name)]
    return out


def decode(value: int | str) -> list[str]:
    """Names of the bits set in a mask such as ``CapEff: 00000000a80425fb`` (hex text or int)."""
    bits = int(value, 16) if isinstance(value, str) else value
    out = []
    for n in range(bits.bit_length()):
        if bits >> n & 1:
            out.append(f"CAP_{NAMES[n]}" if n < len(NAMES) else f"CAP_{n}")
    return out


def read_status(text: str) -> dict[str, int]:
    """The five capability sets from the text of /proc/PID/status (CapInh, CapPrm, CapEff, CapBnd, CapAmb)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap") and len(key) == 6:
            out[key] = int(value.strip(), 16)
    return out


def read_last_cap(proc_root) -> int:
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    import os
    try:
        with open(os.path.join(os.fspath(proc_root), "sys", "kernel", "cap_last_cap")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return len(NAMES) - 1


def read_bounding(proc_root) -> int | None:
    """Our own bounding set (CapBnd of <proc_root>/self/status): a container can never hold more."""
    import os
    try:
        with open(os.path.join(os.fspath(proc_root), "self", "status")) as f:
            return read_status(f.read()).get("CapBnd")
    except OSError:
        return None

"""What this host offers, and what each chapter of the course needs.

Each check reads the kernel's own answers: /proc/self/ns lists the namespace kinds this
kernel knows (namespaces(7)); /proc/filesystems lists overlay when overlayfs is there;
the cgroup layout comes from the mount table (cgroups(7)); whether KVM is *usable* is
decided by a short probe boot, because /dev/kvm can exist on a machine whose CPU
offers no virtualisation to the guest.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import MiniContainerError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    advice: str = ""
    required: bool = True      # False: only some chapters or benchmarks need it
    more: list[str] = field(default_factory=list)    # further detail lines


@dataclass
class Chapter:
    number: str
    title: str
    needs: list[str] = field(default_factory=list)   # names of checks


CHAPTERS = [
    Chapter("00", "preflight", []),
    Chapter("01", "containers are processes", ["root", "namespaces", "overlayfs", "busybox-static"]),
    Chapter("01a", "the Docker host", ["root", "namespaces", "overlayfs", "busybox-static"]),
    Chapter("02", "namespaces", ["root", "namespaces", "overlayfs", "busybox-static"]),
    Chapter("02a", "libcontainer, runc and the OCI runtime-spec",
            ["root", "namespaces", "overlayfs", "busybox-static", "runc"]),
    Chapter("03", "cgroups", ["root", "cgroups"]),
    Chapter("04", "union mounts and layers", ["root", "overlayfs", "busybox-static"]),
    Chapter("05", "images and Dockerfiles", ["root", "overlayfs", "busybox-static", "docker-registry"]),
    Chapter("06", "networking", ["root", "namespaces", "busybox-static"]),
    Chapter("07", "security", ["root", "namespaces", "unprivileged userns"]),
    Chapter("08", "containers vs VMs", ["root", "qemu", "busybox-static"]),
]


def _kernel_namespaces(proc_root: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(proc_root / "self" / "ns") if not n.endswith("_for_children"))
    except OSError:
        return []


def _filesystems(proc_root: Path) -> set[str]:
    try:
        return {line.split()[-1] for line in (proc_root / "filesystems").read_text().splitlines() if line.strip()}
    except OSError:
        return set()


def _is_static(path: Path) -> bool:
    """A static ELF has no PT_INTERP: no dynamic loader path near the start of the file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.startswith(b"\x7fELF") and b"/ld-linux" not in head and b"ld-musl" not in head


def _userns_for_users(proc_root: Path) -> tuple[bool, str]:
    knobs = {"sys/kernel/unprivileged_userns_clone": "1", "sys/user/max_user_namespaces": None}
    for knob, want in knobs.items():
        try:
            value = (proc_root / knob).read_text().strip()
        except OSError:
            continue
        if want is not None and value != want:
            return False, f"{knob} = {value}"
        if want is None and value == "0":
            return False, f"{knob} = 0"
    apparmor = proc_root / "sys/kernel/apparmor_restrict_unprivileged_userns"
    if apparmor.exists() and apparmor.read_text().strip() == "1":
        return False, "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04+)"
    return True, "ordinary users may create user namespaces"


def checks(proc_root: Path = paths.PROC_ROOT, cgroup_root: Path = paths.CGROUP_ROOT, *,
           probe_kvm: bool = True) -> list[Check]:
    out: list[Check] = []
    out.append(Check("kernel", platform.system() == "Linux", f"{platform.system()} {platform.release()}",
                     "the lab needs a Linux kernel (on Windows: WSL2; on macOS: a Linux VM)"))
    root = os.geteuid() == 0
    out.append(Check("root", root, "running as root" if root else f"running as uid {os.geteuid()}",
                     "run as root (sudo) for the chapters that build containers; rootless mode needs none"))
    ns = _kernel_namespaces(proc_root)
    want = {"mnt", "uts", "ipc", "net", "pid", "cgroup", "user"}
    out.append(Check("namespaces", want <= set(ns), " ".join(ns) or "none found",
                     f"this kernel lacks: {' '.join(sorted(want - set(ns)))}"))
    try:
        from .cgroups import detect
        layout = detect(cgroup_root, proc_root)
        lines = layout.describe()
        out.append(Check("cgroups", True, lines[0], more=lines[1:]))
    except (MiniContainerError, OSError, ValueError) as err:  # doctor reports, it does not fail
        out.append(Check("cgroups", False, f"cannot read the cgroup layout: {err}",
                         "mount cgroup2 at /sys/fs/cgroup (systemd does this by default)"))
    fs = _filesystems(proc_root)
    out.append(Check("overlayfs", "overlay" in fs, "overlay in /proc/filesystems" if "overlay" in fs else "missing",
                     "modprobe overlay"))
    ok, why = _userns_for_users(proc_root)
    out.append(Check("unprivileged userns", ok, why, "sysctl -w kernel.unprivileged_userns_clone=1", required=False))
    helpers = [shutil.which(h) for h in ("newuidmap", "newgidmap")]
    out.append(Check("uidmap", all(helpers),
                     "newuidmap, newgidmap: a rootless container also maps the user's /etc/subuid range"
                     if all(helpers) else "no newuidmap/newgidmap: a rootless container maps one uid only",
                     "apt-get install uidmap", required=False))
    bb = next((p for p in paths.HOST_BUSYBOX_CANDIDATES if p.exists()), None)
    static = bb is not None and _is_static(bb)
    out.append(Check("busybox-static", static, f"{bb} ({'static' if static else 'dynamic'})" if bb else "missing",
                     "apt-get install busybox-static"))
    registry = shutil.which("docker-registry")
    out.append(Check("docker-registry", registry is not None,
                     f"{registry}: the lab registry (minicontainer registry start, 127.0.0.1 only)" if registry
                     else "missing: no lab registry for pull/push", "scripts/install-system-deps.sh (docker-registry)",
                     required=False))
    out.extend(_qemu_checks(probe_kvm))
    for tool in ("runc", "crun"):
        where = shutil.which(tool)
        out.append(Check(tool, where is not None, where or "missing", f"apt-get install {tool} (bench only)",
                         required=False))
    return out


def _qemu_checks(probe: bool) -> list[Check]:
    from vmcompare.qemu import QEMU_BINARY, qemu_version  # the one module that runs QEMU
    qemu = shutil.which(QEMU_BINARY)
    if not qemu:
        return [Check("qemu", False, f"{QEMU_BINARY} missing", "apt-get install qemu-system-x86"),
                Check("kvm", False, "no QEMU to probe with", "", required=False)]
    out = [Check("qemu", True, f"{qemu}: QEMU {qemu_version() or 'version unknown'}")]
    if not os.path.exists("/dev/kvm"):
        out.append(Check("kvm", False, "/dev/kvm absent: TCG (software emulation) will be used",
                         "enable virtualisation (VT-x/AMD-V) for the VM, or accept slower TCG boots", required=False))
    elif not probe:
        out.append(Check("kvm", False, "/dev/kvm present, not probed", required=False))
    else:
        from vmcompare.qemu import probe_kvm
        verdict = probe_kvm()
        detail = ("present and usable" if verdict.usable
                  else f"present, not usable: TCG will be used ({verdict.reason})")
        out.append(Check("kvm", verdict.usable, detail, "enable nested virtualisation for this VM", required=False))
    return out


def chapter_readiness(results: list[Check]) -> list[tuple[Chapter, list[str]]]:
    """For each chapter, the names of the checks it needs that failed."""
    by_name = {c.name: c for c in results}
    return [(ch, [n for n in ch.needs if n in by_name and not by_name[n].ok]) for ch in CHAPTERS]

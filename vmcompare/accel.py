"""Choosing the accelerator: does KVM really work here, or must we emulate (TCG)?

KVM needs three things: a CPU with virtualisation extensions (``vmx`` for Intel,
``svm`` for AMD in ``/proc/cpuinfo``), the ``kvm`` kernel module (``/dev/kvm``), and
permission to open ``/dev/kvm`` (root or the ``kvm`` group). In a cloud VM without
*nested* virtualisation the device may exist and even run firmware, yet a Linux guest
spins forever in ``KVM_RUN``. Only a real boot tells, so :func:`probe_kvm` boots the
guest kernel once under KVM with a short deadline and caches what it saw, with the
reason, in the build directory. The cache is keyed by the host's boot id, the QEMU
version and the guest kernel, so a reboot or an upgrade probes again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from minicontainer.paths import PROC_ROOT, project_build_dir

from .errors import VMError

PROBE_TIMEOUT = 6.0      # a TCG boot takes ~1.5 s here; a working KVM boot well under 1 s
CACHE_NAME = "kvm-probe.json"
KVM_DEVICE = Path("/dev/kvm")


@dataclass
class KvmVerdict:
    usable: bool
    reason: str
    checked: str = ""        # ISO date of the probe
    cached: bool = False

    def summary(self) -> str:
        state = "usable" if self.usable else "not usable: TCG will be used"
        return f"{state} ({self.reason})"


def _cpu_flags(proc_root: Path) -> set[str]:
    try:
        for line in (proc_root / "cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cache_key(proc_root: Path, kernel_label: str) -> str:
    from .qemu import qemu_version
    try:
        boot_id = (proc_root / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "?"
    return f"{boot_id}|qemu {qemu_version()}|{kernel_label}"


def probe_kvm(*, kernel=None, build_dir: Path | None = None, refresh: bool = False,
              device: Path = KVM_DEVICE, proc_root: Path = PROC_ROOT, timeout: float = PROBE_TIMEOUT) -> KvmVerdict:
    """Whether KVM can boot our guest here, and why (cached; ``refresh=True`` probes again)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if not device.exists():
        return KvmVerdict(False, f"{device} is absent (no kvm module, or no virtualisation here)", now)
    if not os.access(device, os.R_OK | os.W_OK):
        return KvmVerdict(False, f"{device} is present but not accessible to this user (kvm group?)", now)
    from .guestkernel import DEFAULT_FLAVOUR, cached_kernel, find_kernel
    guest = find_kernel(kernel) if kernel else cached_kernel(DEFAULT_FLAVOUR, build_dir)
    if guest is None:
        return KvmVerdict(False, "present, not probed: no guest kernel yet (run 'vmcompare fetch-kernel')", now)
    cache = (build_dir or project_build_dir()) / CACHE_NAME
    key = _cache_key(proc_root, str(guest.vmlinuz))
    if not refresh:
        try:
            saved = json.loads(cache.read_text())
            if saved.get("key") == key:
                return KvmVerdict(saved["usable"], saved["reason"], saved.get("checked", ""), cached=True)
        except (OSError, ValueError, KeyError):
            pass
    verdict = _test_boot(guest, build_dir, timeout, _cpu_flags(proc_root), now)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, **asdict(verdict)}, indent=2) + "\n")
    os.replace(tmp, cache)
    return verdict


def _test_boot(guest, build_dir, timeout: float, flags: set[str], now: str) -> KvmVerdict:
    from . import initramfs
    from .qemu import VMConfig, boot
    initrd = initramfs.build_cached(initramfs.InitSpec(), (build_dir or project_build_dir()) / "guest" / "initramfs")
    cfg = VMConfig(kernel=guest.vmlinuz, initrd=initrd, machine="pc", accel="kvm", memory_mib=128)
    hint = "" if flags & {"vmx", "svm"} else "; the CPU shows no vmx/svm flag: nested virtualisation is off"
    try:
        outcome = boot(cfg, timeout=timeout, silence=timeout, retries=0, sample_at_init=False)
    except VMError as err:
        return KvmVerdict(False, f"qemu refused kvm: {err.message}", now)
    rec = outcome.record
    if rec is not None and rec.t_init is not None:
        return KvmVerdict(True, f"a KVM test boot reached /init in {rec.t_init - rec.t_exec:.2f} s", now)
    return KvmVerdict(False, f"a KVM test boot did not reach /init within {timeout:g} s{hint}", now)


def resolve_accel(accel: str, *, kernel=None, build_dir: Path | None = None) -> tuple[str, str]:
    """``auto`` -> ``kvm`` when the probe says so, else ``tcg``; returns (accel, why)."""
    if accel in ("kvm", "tcg"):
        return accel, "chosen by the user"
    if accel != "auto":
        from .errors import UsageError
        raise UsageError(f"unknown accelerator {accel!r} (choose auto, kvm or tcg)", op="choose accelerator")
    verdict = probe_kvm(kernel=kernel, build_dir=build_dir)
    return ("kvm" if verdict.usable else "tcg"), f"kvm {verdict.summary()}"

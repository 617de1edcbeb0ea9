"""Measuring: N boots of a VM and N starts of a container, labelled with where they ran.

A single timing says little on a shared machine; N trials give a distribution, which
we summarise with the median (the typical run), p5/p95 (the spread) and the minimum
(the best the machine can do). Every series carries the conditions it was measured
under (host kernel, CPU model, cores, QEMU version, accelerator, machine type, memory,
guest kernel, date), as Firecracker's CI does: a boot time under TCG (emulation) and one
under KVM are different facts, and a number without its label invites a wrong comparison.

A boot that hung or timed out is recorded as a failed trial with no timings at all: it
is a fact about reliability, not a slow sample to average in.

Container starts are timed around the real CLI as a subprocess
(``minicontainer --root R run --rm busybox /bin/true``), with ``time.perf_counter``
around the real binary next to ``sys.executable`` (never a shell shim), so the figure
is what a user waits for, interpreter start-up included.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from minicontainer.paths import PROC_ROOT, project_build_dir

from . import initramfs
from .errors import NotFoundError, UsageError, VMError
from .guestkernel import GuestKernel, find_kernel
from .phases import PHASES
from minicontainer import __version__


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (as numpy's default), q in 0..100."""
    if not values:
        raise UsageError("percentile of an empty series", op="summarise")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarise(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": percentile(values, 50), "p5": percentile(values, 5),
            "p95": percentile(values, 95), "min": min(values)}


def cpu_model(proc_root: Path = PROC_ROOT) -> str:
    try:
        for line in (proc_root / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_labels(**extra) -> dict:
    """The conditions every result is labelled with."""
    from .qemu import qemu_version
    labels = {"host_kernel": platform.release(), "cpu_model": cpu_model(), "cores": os.cpu_count(),
              "qemu_version": qemu_version() or "absent", "hostname": platform.node(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    labels.update(extra)
    return labels


def provenance(labels: dict, accel: str | None = None) -> str:
    """Where and when a result was measured, and whether it was measured now or recorded: the line
    every figure and table carries (``source`` label: absent = measured now, "recorded", "sample")."""
    where = (f"{labels.get('hostname', '?')} ({labels.get('cpu_model', '?')} x{labels.get('cores', '?')}, "
             f"Linux {labels.get('host_kernel', '?')})")
    when = str(labels.get("date", "?"))[:16].replace("T", " ")
    acc = f", VM accelerator {accel.upper()}" if accel else ""
    source = labels.get("source")
    if source in ("recorded", "sample"):
        return f"{source.upper()}: measured on {where}, {when} UTC{acc}; not measured on your machine"
    return f"measured now on {where}, {when} UTC{acc}"


@dataclass
class Trial:
    """One boot or one container start. ``status`` other than "ok" means no timings."""

    status: str
    total_s: float | None = None              # exec to exit (VM) or command wall time (container)
    phases: dict[str, float] = field(default_factory=dict)       # host offsets, see phases.PHASES
    kernel_printk: dict[str, float] = field(default_factory=dict)
    guest_uptime_init: float | None = None
    rss_bytes: int | None = None
    uss_bytes: int | None = None
    guest_mem_total_kb: int | None = None
    guest_mem_available_kb: int | None = None
    error: str | None = None


@dataclass
class Series:
    kind: str                                  # "vm-boot" or "container-start"
    labels: dict
    trials: list[Trial] = field(default_factory=list)

    def ok(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "ok"]

    def values(self, phase: str = "total") -> list[float]:
        if phase == "total":
            return [t.total_s for t in self.ok() if t.total_s is not None]
        return [t.phases[phase] for t in self.ok() if phase in t.phases]

    def summary(self, phase: str = "total") -> dict:
        return summarise(self.values(phase))


def _progress(i: int, n: int, what: str) -> None:
    width = 24
    done = int(width * i / n) if n else width
    end = "\n" if i >= n else ""
    print(f"\r{what} [{'#' * done}{'.' * (width - done)}] {i}/{n}", end=end, file=sys.stderr, flush=True)


def _trial_from_record(rec) -> Trial:
    ph = rec.phases()
    if not ph.complete:
        return Trial(status="failed", error=f"missing phases: {', '.join(ph.missing())}")
    return Trial(status="ok", total_s=ph.host["exit"], phases={k: ph.host[k] for k in PHASES},
                 kernel_printk=dict(ph.kernel_printk), guest_uptime_init=ph.guest_uptime.get("init"),
                 rss_bytes=rec.rss_bytes, uss_bytes=rec.uss_bytes, guest_mem_total_kb=ph.mem_total_kb,
                 guest_mem_available_kb=ph.mem_available_kb)


def boot_series(trials: int = 5, *, machine: str = "pc", accel: str = "auto", memory_mib: int = 256,
                kernel: str | os.PathLike | GuestKernel | None = None, timeout: float = 60.0,
                silence: float = 10.0, spec: initramfs.InitSpec | None = None,
                build_dir: Path | None = None, progress: Callable[[int, int, str], None] | None = _progress) -> Series:
    """Boot the guest ``trials`` times; each hung attempt becomes a failed trial and is retried once."""
    from .qemu import VMConfig, boot, resolve_accel
    if trials < 1:
        raise UsageError("trials must be at least 1", op="measure boots")
    build_dir = build_dir or project_build_dir()
    guest = find_kernel(kernel, build_dir=build_dir)
    chosen, why = resolve_accel(accel, build_dir=build_dir)
    initrd = initramfs.build_cached(spec or initramfs.InitSpec(), build_dir / "guest" / "initramfs")
    cfg = VMConfig(kernel=guest.vmlinuz, initrd=initrd, machine=machine, accel=chosen, memory_mib=memory_mib)
    series = Series("vm-boot", host_labels(accel=chosen, accel_reason=why, machine=machine,
                                           memory_mib=memory_mib, guest_kernel=guest.label))
    for i in range(trials):
        if progress:
            progress(i, trials, f"booting {machine}/{chosen}")
        try:
            outcome = boot(cfg, timeout=timeout, silence=silence, retries=1)
        except VMError as err:      # QEMU refused to start: nothing later can work either
            series.trials.append(Trial(status="launch-failed", error=str(err)))
            break
        for failed in outcome.failures:
            series.trials.append(Trial(status=failed.status, error=f"{failed.status}; console tail: "
                                       + " | ".join(failed.log.splitlines()[-2:])))
        if outcome.record is not None:
            series.trials.append(_trial_from_record(outcome.record))
    if progress:
        progress(trials, trials, f"booting {machine}/{chosen}")
    return series


def minicontainer_binary() -> Path:
    """The real ``minicontainer`` console script next to this interpreter."""
    path = Path(sys.executable).parent / "minicontainer"
    if not path.exists():
        found = shutil.which("minicontainer")
        if not found:
            raise NotFoundError("no minicontainer command next to this python", op="time container", path=path)
        path = Path(found)
    return path


def container_series(trials: int = 10, *, state_root: Path | None = None, image: str = "busybox",
                     command: tuple[str, ...] = ("/bin/true",),
                     progress: Callable[[int, int, str], None] | None = _progress,
                     network: str | None = None) -> Series:
    """Time ``minicontainer --root R run --rm IMAGE CMD`` ``trials`` times (after one ``pull``);
    ``network`` adds ``--network NAME`` (e.g. "none": no interface, as a VM booted without a NIC)."""
    binary = minicontainer_binary()
    own_root = state_root is None
    root = Path(state_root) if state_root else Path(tempfile.mkdtemp(prefix="vmcompare-containers-"))
    net = ["--network", network] if network else []
    series = Series("container-start", host_labels(runtime=f"minicontainer {__version__} (the checkout's console script)", image=image,
                                                   command=" ".join(command), network=network or "default"))
    try:
        pulled = subprocess.run([str(binary), "--root", str(root), "pull", image], capture_output=True, text=True)
        if pulled.returncode != 0:
            raise VMError(f"minicontainer pull {image} failed: {pulled.stderr.strip()[-200:]}", op="time container")
        argv = [str(binary), "--root", str(root), "run", "--rm", *net, image, *command]
        for i in range(trials):
            if progress:
                progress(i, trials, "starting containers")
            t0 = time.perf_counter()
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
            elapsed = time.perf_counter() - t0
            if done.returncode == 0:
                series.trials.append(Trial(status="ok", total_s=elapsed))
            else:
                series.trials.append(Trial(status="failed", error=done.stderr.decode(errors="replace")[-300:]))
        if progress:
            progress(trials, trials, "starting containers")
        series.labels["rss_bytes"], series.labels["uss_bytes"] = container_memory(binary, root, image, net)
    finally:
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
    return series


def container_memory(binary: Path, root: Path, image: str = "busybox",
                     options: tuple | list = ()) -> tuple[int | None, int | None]:
    """Memory of one running container instance: the runtime process and everything under it
    (summed RSS and USS, psutil), sampled while the container sleeps."""
    import psutil
    proc = subprocess.Popen([str(binary), "--root", str(root), "run", "--rm", *options, image, "/bin/sleep", "2"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        rss = uss = 0
        try:
            top = psutil.Process(proc.pid)
            for p in [top, *top.children(recursive=True)]:
                info = p.memory_full_info()
                rss, uss = rss + info.rss, uss + info.uss
        except psutil.Error:
            return None, None
        return rss or None, uss or None
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

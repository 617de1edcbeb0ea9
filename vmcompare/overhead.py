"""Overhead: the same workloads on the host, in a container and in a VM, as a Felter-style table.

A container's process runs on the host kernel like any other process: the namespaces
(namespaces(7)) only change what it can *see*, the cgroups (cgroups(7)) what it may *use*,
so its CPU and memory work costs the same as on the host; what can cost something is the
path its I/O takes (an overlay filesystem, a veth pair and a bridge, the seccomp filter
run on each system call, see seccomp(2)). A VM runs a second kernel on emulated or
virtualised hardware: every disk block crosses a virtio queue to QEMU, every packet
QEMU's network stack, and, under TCG, every guest instruction is *translated* in software.

:func:`compare` runs :mod:`vmcompare.workloads`' script in three places:

* **host**: ``busybox sh -c SCRIPT`` with the files in a temporary directory on the host's
  disk, ping to 127.0.0.1 (loopback);
* **container**: ``minicontainer run --rm --network none busybox sh -c SCRIPT``, files in the
  container's ``/tmp`` (its overlay upper directory, on the same host disk); the network
  workload alone runs in a second container on the default bridge and pings the bridge's
  gateway address, i.e. the host's end of the veth pair;
* **vm**: a guest booted by :mod:`vmcompare.qemu` (the only QEMU launcher) with a virtio
  disk (a raw ext4 image file on the host's disk, QEMU's default ``cache=writeback``, so
  the guest's ``fsync`` becomes a flush, then ``fdatasync`` of the image) and QEMU *user
  networking* restricted to the host (``-netdev user,restrict=on``): the guest pings
  10.0.2.2, the gateway that QEMU's own user-mode network stack (libslirp) answers inside
  the QEMU process on the host. No packet leaves the host.

Every VM figure carries its accelerator. Under TCG (no KVM here) the VM column measures
*emulation*, not virtualisation; :data:`PUBLISHED` holds the published KVM figures to set
beside ours, labelled as published.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from minicontainer.paths import project_build_dir

from . import timer
from . import workloads as wl
from .errors import UsageError, VMError
from .measure import host_labels, minicontainer_binary, percentile
from minicontainer import __version__

ENVS = ("host", "container", "unconfined", "vm")
VM_GATEWAY = "10.0.2.2"        # QEMU user networking: the host side, answered by libslirp in QEMU
VM_ADDRESS = "10.0.2.15/24"    # the address libslirp expects its guest to use
GUEST_WLDIR = "/mnt/wl"

# Published figures (never ours), each with its source and what it measured.
PUBLISHED = {
    "cpu": "Felter et al. 2015 (IBM RC25482): Docker ≈ native for CPU (Linpack, PXZ)",
    "memory": "Felter et al. 2015: Docker ≈ native for memory bandwidth (STREAM)",
    "net-rtt": "Felter et al. 2015: KVM adds ~30 µs to a network round trip (netperf TCP_RR)",
    "file-write": "Felter et al. 2015: KVM ~½ of native random-I/O IOPS (theirs random, ours sequential)",
    "file-read": "Felter et al. 2015: KVM ~½ of native random-I/O IOPS (theirs random, ours cached)",
}
# VM boot, like for like: say where each clock starts and stops.
PUBLISHED_BOOT = (
    ("Firecracker SPECIFICATION.md", "<= 125 ms", "from the InstanceStart API call to the start of the guest's "
     "/sbin/init (VMM already running and configured); i3.metal, 2 vCPU, 256 MiB, Firecracker-tuned guest kernel, KVM"),
    ("Agache et al., NSDI 2020, data: boot-serial-fc.dat", "~190 ms p50", "Firecracker end to end: from starting the "
     "VMM process (configured over its API) until the guest's init writes a magic I/O port; m5d.metal, 1 vCPU, KVM"),
    ("Agache et al., NSDI 2020, data: boot-serial-qboot.dat", "214 ms p50", "QEMU pc machine with the qboot firmware, "
     "same endpoints as the line above; m5d.metal, 1 vCPU, KVM"),
)


@dataclass
class EnvRun:
    """One environment's run of the script."""

    env: str
    labels: dict
    samples: list[wl.Sample] = field(default_factory=list)
    wall_s: float | None = None
    error: str | None = None

    def values(self, workload: str) -> list[float]:
        return [s.value for s in self.samples if s.workload == workload and s.status == "ok" and s.value is not None]


@dataclass
class Comparison:
    labels: dict
    workloads: list[wl.Workload]
    trials: int
    runs: dict[str, EnvRun] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row per workload: median, p5, p95, n per environment, and overhead % vs the host
        (positive = worse than the host, whichever way the unit points)."""
        out = []
        for w in self.workloads:
            row = {"workload": w.name, "title": w.title, "unit": w.unit, "higher_is_better": w.higher_is_better,
                   "published": PUBLISHED.get(w.name, "")}
            for env, run in self.runs.items():
                vals = run.values(w.name)
                row[env] = ({"n": len(vals), "median": percentile(vals, 50), "p5": percentile(vals, 5),
                             "p95": percentile(vals, 95)} if vals else {"n": 0, "why": _why_missing(run, w.name)})
            host = row.get("host", {}).get("median")
            for env in self.runs:
                if env != "host":
                    row[f"{env}_overhead_pct"] = overhead_pct(host, row[env].get("median"), w.higher_is_better)
            out.append(row)
        return out


def _why_missing(run: EnvRun, workload: str) -> str:
    if run.error:
        return run.error
    statuses = [s for s in run.samples if s.workload == workload]
    return statuses[0].detail or statuses[0].status if statuses else "not run"


def overhead_pct(host: float | None, other: float | None, higher_is_better: bool) -> float | None:
    """How much worse than the host, in %: throughput lost, or extra time per operation."""
    if host is None or other is None or host <= 0 or other <= 0:
        return None
    return (host / other - 1) * 100 if higher_is_better else (other / host - 1) * 100


def _busybox() -> Path:
    from .initramfs import find_busybox
    return find_busybox()


def _parse_run(env: EnvRun, output: str, workloads) -> EnvRun:
    try:
        env.samples, fields = wl.parse(output, workloads)
        env.labels.update({f"script_{k}": timer.shown(v) for k, v in fields.items()})
    except UsageError as err:
        env.error = f"{err.message}; output tail: {output[-300:]!r}"
    return env


def run_host(workloads, trials: int, *, workdir: Path | None = None, timeout: float = 600) -> EnvRun:
    """The script under the host's busybox ``sh``: mc-timer from build/, files in ``workdir`` (a fresh
    temporary directory by default), ping to loopback."""
    bb, t = _busybox(), timer.ensure()
    own = workdir is None
    wdir = Path(tempfile.mkdtemp(prefix="vmcompare-wl-")) if own else Path(workdir)
    env = EnvRun("host", {"busybox": str(bb), "timer": timer.shown(t), "files": f"{wdir} (host filesystem)",
                          "peer": "127.0.0.1 (loopback)"})
    try:
        t0 = time.perf_counter()
        done = subprocess.run([str(bb), "sh", "-c", wl.script(workloads, trials)], capture_output=True, text=True,
                              timeout=timeout, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "BB": str(bb),
                                                    "T": str(t), "WLDIR": str(wdir), "PEER": "127.0.0.1"})
        env.wall_s = time.perf_counter() - t0
        return _parse_run(env, done.stdout, workloads)
    except subprocess.TimeoutExpired:
        env.error = f"host run exceeded {timeout:g} s"
        return env
    finally:
        if own:
            shutil.rmtree(wdir, ignore_errors=True)


def run_container(workloads, trials: int, *, state_root: Path | None = None, seccomp: str = "default",
                  timeout: float = 600) -> EnvRun:
    """The script in ``minicontainer run --rm busybox``, with build/timer bind-mounted read-only
    (the very file the host ran): ``--network none`` for everything but the network workload, which
    runs in a second container on the default bridge and pings its gateway. ``seccomp="unconfined"``
    adds ``--security-opt seccomp=unconfined`` (no filter on any system call)."""
    binary, t = minicontainer_binary(), timer.ensure()
    own = state_root is None
    root = Path(tempfile.mkdtemp(prefix="vmcompare-ctr-")) if own else Path(state_root)
    name = "container" if seccomp == "default" else "unconfined"
    env = EnvRun(name, {"runtime": f"minicontainer {__version__} (the checkout's console script)", "image": "busybox (the host's busybox-static)",
                        "timer": f"{timer.shown(t)} bind-mounted read-only at {timer.CONTAINER_DIR}",
                        "seccomp": "minicontainer's default profile" if seccomp == "default" else "unconfined",
                        "files": "/tmp in the container (overlay upper dir on the host filesystem)",
                        "peer": "the bridge gateway (host end of the veth pair)", "network": "none / bridge"})
    local = [w for w in workloads if w.needs != "net"]
    net = [w for w in workloads if w.needs == "net"]
    opts = ["-v", f"{t.parent}:{timer.CONTAINER_DIR}:ro", "-e", f"T={timer.CONTAINER_DIR}/{timer.NAME}"]
    if seccomp != "default":
        opts += ["--security-opt", f"seccomp={seccomp}"]
    outputs = []
    try:
        pulled = subprocess.run([str(binary), "--root", str(root), "pull", "busybox"], capture_output=True, text=True)
        if pulled.returncode != 0:
            env.error = f"minicontainer pull busybox failed: {pulled.stderr.strip()[-200:]}"
            return env
        t0 = time.perf_counter()
        for group, network, peer in ((local, "none", ""), (net, "bridge", wl.GATEWAY)):
            if not group:
                continue
            argv = [str(binary), "--root", str(root), "run", "--rm", "--network", network, *opts,
                    "-e", "BB=/bin/busybox", "-e", "WLDIR=/tmp", "-e", f"PEER={peer}", "busybox", "/bin/sh", "-c",
                    wl.script(group, trials)]
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0 and f"{wl.MARK} done" not in done.stdout:
                env.error = f"container ({network}) exited {done.returncode}: {done.stderr.strip()[-300:]}"
                return env
            outputs.append((group, done.stdout))
        env.wall_s = time.perf_counter() - t0
        for group, text in outputs:
            part = _parse_run(EnvRun(name, {}), text, group)
            if part.error:
                env.error = part.error
            env.samples += part.samples
        return env
    except subprocess.TimeoutExpired:
        env.error = f"container run exceeded {timeout:g} s"
        return env
    finally:
        _remove_containers(binary, root)   # a run killed at its timeout leaves its container running
        if own:
            shutil.rmtree(root, ignore_errors=True)


def _remove_containers(binary: Path, root: Path) -> None:
    """``rm -f`` every container of ``root`` (its cgroups, mounts and processes go with it)."""
    listed = subprocess.run([str(binary), "--root", str(root), "ps", "-aq"], capture_output=True, text=True,
                            timeout=60)
    ids = listed.stdout.split()
    if ids:
        subprocess.run([str(binary), "--root", str(root), "rm", "-f", *ids], capture_output=True, timeout=120)


def _guest_prologue(disk: bool, net: bool) -> str:
    lines = ["BB=/bin/busybox", f"T={timer.GUEST_PATH}"]
    if disk:
        lines += [f"mkdir -p {GUEST_WLDIR} && mount -t ext4 /dev/vda {GUEST_WLDIR} || echo '{wl.MARK} note no-disk'",
                  f"WLDIR={GUEST_WLDIR}"]
    if net:
        lines += ["ip link set lo up",
                  "for d in /sys/class/net/*; do n=${d##*/}; [ $n = lo ] || break; done",
                  f"ip link set $n up && ip addr add {VM_ADDRESS} dev $n && PEER={VM_GATEWAY}"]
    return "\n".join(lines) + "\nexport BB T WLDIR PEER\n"


def run_vm(workloads, trials: int, *, accel: str = "auto", machine: str = "pc", memory_mib: int = 256,
           kernel=None, build_dir: Path | None = None, timeout: float = 600) -> EnvRun:
    """The script as the workload of a freshly booted guest with a virtio disk and user networking."""
    from . import initramfs
    from .guestkernel import DEFAULT_FLAVOUR, find_kernel
    from .kmod import ModuleIndex
    from .qemu import VMConfig, boot, resolve_accel
    build_dir = build_dir or project_build_dir()
    guest = find_kernel(kernel, DEFAULT_FLAVOUR, build_dir)
    chosen, why = resolve_accel(accel, build_dir=build_dir)
    disk = any(w.needs == "disk" for w in workloads)
    net = any(w.needs == "net" for w in workloads)
    env = EnvRun("vm", {"accel": chosen, "accel_reason": why, "machine": machine, "memory_mib": memory_mib,
                        "guest_kernel": guest.label, "timer": f"{timer.shown(timer.ensure())} copied to {timer.GUEST_PATH} in the initramfs",
                        "files": "ext4 on a virtio-blk raw image file (host filesystem, cache=writeback)",
                        "peer": f"{VM_GATEWAY}: QEMU user networking (libslirp in the QEMU process), restrict=on"})
    if guest.modules_dir is None:
        raise UsageError("the guest kernel has no modules directory (virtio_blk/virtio_net)", op="run workloads in vm",
                         path=guest.vmlinuz)
    wanted = ["virtio_pci"] + (["virtio_blk"] if disk else []) + (["virtio_net"] if net else [])
    modules = ModuleIndex(guest.modules_dir).load_order(wanted)
    tmp = Path(tempfile.mkdtemp(prefix="vmcompare-vm-", dir=build_dir))
    extra: list[str] = []
    try:
        if disk:
            need_mib = max((w.chunk for w in workloads if w.name == "file-read"), default=64) + 64
            image = tmp / "disk.img"
            with open(image, "wb") as f:
                f.truncate(need_mib * 2**20)
            mkfs = subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                                   str(image)], capture_output=True, text=True)
            if mkfs.returncode != 0:
                raise VMError(f"mkfs.ext4 failed: {mkfs.stderr.strip()[-200:]}", op="make guest disk", path=image)
            extra += ["-drive", f"file={image},format=raw,if=none,id=wl0,cache=writeback",
                      "-device", "virtio-blk-pci,drive=wl0"]
        if net:
            extra += ["-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"]
        spec = initramfs.InitSpec(workload=_guest_prologue(disk, net) + wl.script(workloads, trials), modules=modules,
                                  files={timer.GUEST_PATH: timer.ensure().read_bytes()})
        initrd = initramfs.build_cached(spec, build_dir / "guest" / "initramfs")
        cfg = VMConfig(kernel=guest.vmlinuz, initrd=initrd, machine=machine, accel=chosen, memory_mib=memory_mib,
                       extra=tuple(extra))
        outcome = boot(cfg, timeout=timeout, silence=20.0, retries=1, sample_at_init=False)
        if outcome.record is None:
            env.error = f"guest {outcome.failures[-1].status} (accel {chosen})"
            return env
        phases = outcome.record.phases()
        env.wall_s = outcome.record.t_exit - outcome.record.t_exec
        if phases.result_output is None:
            env.error = "guest reported no result: " + ("; ".join(phases.errors) or "no result line")
            return env
        return _parse_run(env, phases.result_output.decode(errors="replace"), workloads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class MeasurementError(VMError):
    """A series that should have produced numbers did not: the whole comparison stops."""


def _cpu_seconds(w, n: int) -> float:
    """CPU-seconds of one host run of mc-timer doing ``n`` units of workload ``w``."""
    done = subprocess.run([str(timer.ensure()), w.name, str(n)], capture_output=True, text=True, timeout=300)
    m = wl._TIMER.search(done.stdout)
    if done.returncode != 0 or m is None:
        raise MeasurementError(f"mc-timer {w.name} {n} failed: {done.stderr.strip()[-200:]}", op="probe workloads")
    return int(m["cpu"]) / 1e9


def probe(workloads, *, share: float = 0.05) -> dict[str, float]:
    """CPU-seconds per unit of work of each CPU-clocked workload on the host, from two short runs
    of mc-timer (``share`` of its size, then twice that). The cost per unit is the difference of
    the two (the marginal cost) when it is the smaller figure: a workload's fixed cost (the memory
    workload faults its whole buffer in once) spread over a short probe's few units made each unit
    look dearer, so the grown size fell short of the minimum run (0.96 s seen in CI)."""
    out = {}
    for w in workloads:
        if w.clock != "cpu":
            continue
        n = max(1, round(w.size * share))
        one, two = _cpu_seconds(w, n), _cpu_seconds(w, 2 * n)
        marginal = (two - one) / n
        out[w.name] = min(two / (2 * n), marginal) if marginal > 0 else two / (2 * n)
    return out


def calibrated(workloads, target_s: float = 1.6, *, floor_s: float = 1.3, rounds: int = 3) -> list:
    """The workloads sized so that each CPU-clocked one runs about ``target_s`` on this host.

    A short :func:`probe` first; then each grown workload is run once at its new size and, if it
    took under ``floor_s``, grown again from what that full-size run cost (at most ``rounds``
    times). Short probes are noisy: on a fast, quiet host one said the memory workload would run
    1.6 s and it ran 0.91 s (CI, 2026-12-04), below the 1 s minimum, and the chapter stopped."""
    sized = wl.grown(workloads, probe(workloads), target_s)
    for _ in range(rounds):
        short = {}
        for w in sized:
            if w.clock == "cpu":
                used = _cpu_seconds(w, w.size)
                if used < floor_s:
                    short[w.name] = used / w.size
        if not short:
            break
        sized = wl.grown(sized, short, target_s)
    return sized


def _first_problem(run: EnvRun) -> str | None:
    """The run's error, or its first sample that gave no number (failed, or shorter than 1 s)."""
    if run.error:
        return run.error
    bad = next((x for x in run.samples if x.status not in ("ok", "skipped")), None)
    return None if bad is None else f"{bad.workload} trial {bad.trial} {bad.status}: {bad.detail}"


def _vm_sized(workloads, vm_scale) -> list:
    """The host's workloads with their work multiplied by ``vm_scale`` (one factor, or one per name);
    file-read keeps re-reading the (scaled) file it follows a whole number of times."""
    def factor(name):
        if isinstance(vm_scale, dict):
            return vm_scale.get(name, 1.0)
        return 1.0 if vm_scale is None else vm_scale
    out = []
    for w in workloads:
        if w.name == "file-read":
            written = next(x.size for x in out if x.name == "file-write")
            out.append(replace(w, size=written * (w.size // w.chunk), chunk=written))
        else:
            out.append(replace(w, size=max(1, round(w.size * factor(w.name)))))
    return out


def _renumber(samples, trial: int):
    for smp in samples:
        smp.trial = trial
    return samples


def compare(names=None, *, trials: int = 5, scale: float = 1.0, envs=ENVS, accel: str = "auto",
            machine: str = "pc", memory_mib: int = 256, kernel=None, build_dir: Path | None = None,
            vm_scale: float | dict | None = None, strict: bool = True, calibrate: bool = True, progress=None) -> Comparison:
    """Run the chosen workloads ``trials`` times in each environment of ``envs``.

    The host and container environments take turns, one trial each per round (host, container,
    unconfined, then the next round in the opposite order), so a change in the machine's load
    falls on all of them alike; the VM runs all its trials in one boot. ``vm_scale`` (default
    1: the host's work; a fraction, or one per workload name) sizes the VM's work: an emulated guest may do
    less work and still run >= 1 s (a guest is never faster than its host, so 1.0 is always safe).
    ``strict``: an environment that fails, or a run that gives no number (it failed, or was
    shorter than 1 s), raises :class:`MeasurementError` instead of leaving a hole in the table.
    ``calibrate``: a short probe on the host first, and any CPU-clocked workload
    that would run under 1.6 s here is made bigger (never smaller), for every environment; a
    grown size is checked by one full run and grown again if it ran under 1.3 s (:func:`calibrated`)."""
    unknown = set(envs) - set(ENVS)
    if unknown:
        raise UsageError(f"unknown environment {sorted(unknown)[0]!r} (choose from {', '.join(ENVS)})",
                         op="compare overhead")
    if trials < 1:
        raise UsageError("trials must be at least 1", op="compare overhead")
    workloads = wl.catalogue(names, scale)
    growth = {}
    if calibrate and any(e != "vm" for e in envs):
        sized = calibrated(workloads)
        growth = {w.name: g.size / w.size for w, g in zip(workloads, sized) if g.size != w.size}
        workloads = sized
    by_clock: dict[str, list[str]] = {}
    for w in workloads:
        if w.name != "net-rtt":
            by_clock.setdefault(w.clock, []).append(w.name)
    clock = "; ".join(f"{', '.join(ns)}: {wl.CLOCKS[c]}" for c, ns in by_clock.items())
    cmp = Comparison(host_labels(kind="overhead", trials=trials, scale=scale, timer="mc-timer (static, the same file "
                                 "in every environment)", clock=clock + ("; net-rtt: ping's own clock" if
                                 any(w.name == "net-rtt" for w in workloads) else ""),
                                 min_run_s=wl.MIN_RUN_S, grown=growth), workloads, trials)
    paired = [e for e in ENVS if e in envs and e != "vm"]
    runners = {"host": lambda: run_host(workloads, 1),
               "container": lambda: run_container(workloads, 1),
               "unconfined": lambda: run_container(workloads, 1, seccomp="unconfined")}
    for trial in range(1, trials + 1 if paired else 1):
        order = paired if trial % 2 else paired[::-1]
        if progress:
            progress(f"round {trial}/{trials}: {len(workloads)} workloads in {', '.join(order)}")
        for env in order:
            run = runners[env]()
            have = cmp.runs.setdefault(env, EnvRun(env, run.labels, wall_s=0.0))
            have.samples += _renumber(run.samples, trial)
            have.wall_s = (have.wall_s or 0.0) + (run.wall_s or 0.0)
            if run.error and not have.error:
                have.error = f"trial {trial}: {run.error}"
            problem = _first_problem(run)
            if problem and strict:
                raise MeasurementError(f"the {env} series failed, no figures: trial {trial}: {problem}",
                                       op="compare overhead")
    if "vm" in envs:
        vm_work = _vm_sized(workloads, vm_scale)
        if progress:
            progress(f"booting a VM for {len(vm_work)} workloads x {trials}")
        run = run_vm(vm_work, trials, accel=accel, machine=machine, memory_mib=memory_mib, kernel=kernel,
                     build_dir=build_dir)
        run.labels["work_scale"] = {w.name: round(v.size / w.size, 3) for w, v in zip(workloads, vm_work)}
        cmp.runs["vm"] = run
        problem = _first_problem(run)
        if problem and strict:
            raise MeasurementError(f"the vm series failed, no figures: {problem}", op="compare overhead")
    cmp.runs = {e: cmp.runs[e] for e in ENVS if e in cmp.runs}
    return cmp


from .overhead_store import load, save  # noqa: E402,F401  (storage and the table live in their own modules)
from .overhead_table import _cell, _pct, env_heading, format_table  # noqa: E402,F401

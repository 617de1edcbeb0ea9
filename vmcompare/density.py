"""Density: how many instances fit on a host, and how long a "boot storm" of N takes.

Two numbers decide how densely a host can be packed:

* **memory per instance**. What a process *costs* the host is not its RSS (which counts
  shared library pages once per process that maps them) but its **USS** (pages only it
  uses: freed when it exits) or its **PSS** (its USS plus its fair share of each shared
  page). Both come from ``/proc/PID/smaps_rollup`` (proc(5)); psutil reads them
  (``memory_full_info()``). A container costs its own processes plus its monitor
  (``mc-monitor``); a VM costs its QEMU process, which holds the guest's RAM;
* **start time under load**. N instances started at once share the host's cores; if
  starting one needs ``work`` CPU-seconds, N of them on C cores need about ``N*work/C``.

:func:`measure_containers` and :func:`measure_vms` *measure* both for k instances started
at once; :class:`Cost`, :func:`fit`, :func:`capacity` and :func:`storm_seconds` are a
deliberately small model (:mod:`vmcompare.model`) that *projects* them to other hosts,
refusing degenerate fits and capped by the host's PID and kernel-memory limits. Measured and projected
numbers are kept apart everywhere: different types here, different markers in a figure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from minicontainer.paths import PROC_ROOT, project_build_dir

from .errors import UsageError, VMError
from .measure import host_labels, minicontainer_binary, percentile

MiB = 2**20


# --- the model lives in vmcompare.model (pure, unit-tested); its names are re-exported here ---
from .model import (Cost, HostLimits, ModelError, capacity, fit, host_limits,  # noqa: E402,F401
                    kernel_memory_kib, projection, storm_seconds)


# --- measuring ------------------------------------------------------------------------------

@dataclass
class Instance:
    start_s: float | None            # host seconds from the storm's start until this one was up
    uss: int | None = None
    pss: int | None = None
    rss: int | None = None
    tasks: int | None = None         # processes + threads: each takes a PID


@dataclass
class Point:
    """k instances started at once, as measured."""

    kind: str
    k: int
    instances: list[Instance] = field(default_factory=list)
    error: str | None = None
    kernel_kib: int | None = None    # growth of Slab+KernelStack+PageTables while the k instances ran

    @property
    def storm_s(self) -> float | None:
        starts = [i.start_s for i in self.instances if i.start_s is not None]
        return max(starts) if len(starts) == self.k else None

    def per_instance_mib(self, what: str = "pss") -> float | None:
        vals = [getattr(i, what) for i in self.instances if getattr(i, what)]
        return percentile(vals, 50) / MiB if vals else None


def _memory(pids: list[int]) -> tuple[int, int, int, int]:
    """Summed USS, PSS and RSS of these processes, and their number of tasks (threads)."""
    import psutil
    uss = pss = rss = tasks = 0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            info, threads = proc.memory_full_info(), proc.num_threads()
        except psutil.Error:
            continue
        uss, pss, rss, tasks = uss + info.uss, pss + getattr(info, "pss", 0), rss + info.rss, tasks + threads
    return uss, pss, rss, tasks


def _tree(pid: int) -> list[int]:
    import psutil
    try:
        top = psutil.Process(pid)
        return [top.pid] + [c.pid for c in top.children(recursive=True)]
    except psutil.Error:
        return []


def measure_containers(k: int, *, state_root: Path | None = None, timeout: float = 120,
                       proc_root: Path = PROC_ROOT) -> Point:
    """Start k detached containers (``run -d --network none busybox sleep``) at once; each one's
    start time, then its memory: its monitor (mc-monitor) and everything under it; and how much
    the kernel's own memory grew while they ran (``proc_root``'s meminfo, see vmcompare.model)."""
    from minicontainer.runtime.containers import ContainerStore
    binary = minicontainer_binary()
    own = state_root is None
    root = Path(tempfile.mkdtemp(prefix="vmcompare-density-")) if own else Path(state_root)
    point = Point("container", k)
    base = [str(binary), "--root", str(root)]
    ids: list[str] = []
    try:
        pulled = subprocess.run(base + ["pull", "busybox"], capture_output=True, text=True)
        if pulled.returncode != 0:
            point.error = f"pull failed: {pulled.stderr.strip()[-200:]}"
            return point
        argv = base + ["run", "-d", "--network", "none", "busybox", "/bin/sleep", "600"]
        kernel_before = kernel_memory_kib(proc_root)
        t0 = time.perf_counter()
        procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(k)]
        done = {}
        while len(done) < k and time.perf_counter() - t0 < timeout:
            for i, p in enumerate(procs):
                if i not in done and p.poll() is not None:
                    done[i] = time.perf_counter() - t0
            time.sleep(0.002)
        for i, p in enumerate(procs):
            if p.poll() is None:
                p.kill()
            out, err = p.communicate()
            if p.returncode == 0 and out.strip():
                ids.append(out.strip().splitlines()[-1])
                point.instances.append(Instance(done.get(i)))
            else:
                point.error = f"run -d failed: {err.strip()[-200:]}"
        by_id = {c.id: c for c in ContainerStore(root).list()}
        for cid, inst in zip(ids, point.instances):
            c = by_id.get(cid) or next((x for x in by_id.values() if x.id.startswith(cid)), None)
            if c is not None and c.monitor_pid:
                inst.uss, inst.pss, inst.rss, inst.tasks = _memory(_tree(c.monitor_pid))
        point.kernel_kib = kernel_memory_kib(proc_root) - kernel_before
        return point
    finally:
        if ids:
            subprocess.run(base + ["rm", "-f", *ids], capture_output=True, timeout=120)
        if own:
            shutil.rmtree(root, ignore_errors=True)


def measure_vms(k: int, *, memory_mib: int = 128, accel: str = "auto", kernel=None,
                build_dir: Path | None = None, timeout: float = 120, proc_root: Path = PROC_ROOT) -> Point:
    """Boot k guests at once (each waits in ``sleep`` once up); each one's time to /init, then,
    with all of them up, each QEMU process's memory; then they are killed."""
    from . import initramfs
    from .guestkernel import find_kernel
    from .qemu import QemuMachine, VMConfig, build_argv, resolve_accel
    build_dir = build_dir or project_build_dir()
    guest = find_kernel(kernel, build_dir=build_dir)
    chosen, _why = resolve_accel(accel, build_dir=build_dir)
    initrd = initramfs.build_cached(initramfs.InitSpec(workload="sleep 600"), build_dir / "guest" / "initramfs")
    argv = build_argv(VMConfig(kernel=guest.vmlinuz, initrd=initrd, accel=chosen, memory_mib=memory_mib))
    point = Point("vm", k)
    machines = [QemuMachine(argv, sample_at_init=False) for _ in range(k)]
    errors: list[str] = []

    def run(m: QemuMachine) -> None:
        try:
            m.wait(timeout=timeout, silence=30.0)
        except VMError as err:
            errors.append(err.message)

    threads = []
    kernel_before = kernel_memory_kib(proc_root)
    try:
        for m in machines:
            m.launch()
            threads.append(threading.Thread(target=run, args=(m,), daemon=True))
            threads[-1].start()
        t0 = min(m.record.t_exec for m in machines)
        while time.monotonic() - t0 < timeout and not errors:
            if all(m.record.t_init is not None for m in machines):
                break
            time.sleep(0.05)
        for m in machines:
            inst = Instance(None if m.record.t_init is None else m.record.t_init - t0)
            if m.proc is not None and m.proc.poll() is None:
                inst.uss, inst.pss, inst.rss, inst.tasks = _memory([m.proc.pid])
            point.instances.append(inst)
        point.kernel_kib = kernel_memory_kib(proc_root) - kernel_before
        if errors or any(i.start_s is None for i in point.instances):
            point.error = "; ".join(errors) or f"not every guest reached /init within {timeout:g} s"
        return point
    finally:
        for m in machines:      # end our guests: SIGKILL to each QEMU's own process group
            if m.proc is not None and m.proc.poll() is None:
                os.killpg(m.proc.pid, signal.SIGKILL)
        for t in threads:
            t.join(timeout=30)
        for m in machines:
            m.kill()


@dataclass
class Density:
    labels: dict
    points: list[Point] = field(default_factory=list)

    def costs(self) -> dict[str, Cost]:
        """The model fitted per kind. A refused start-time fit leaves ``work_s`` None and says why
        (``refused``); kernel memory per instance is taken from the largest complete point."""
        cores = int(self.labels.get("cores") or os.cpu_count() or 1)
        out = {}
        for kind in ("container", "vm"):
            good = [p for p in self.points if p.kind == kind and p.storm_s is not None and p.per_instance_mib()]
            if good:
                big = max(good, key=lambda p: p.k)
                kernel = big.kernel_kib / big.k / 1024 if big.kernel_kib and big.kernel_kib > 0 else None
                tasks = [i.tasks for i in big.instances if i.tasks]
                out[kind] = fit(kind, [(p.k, p.storm_s, p.per_instance_mib()) for p in good], cores,
                                kernel_mib=kernel, tasks=int(percentile(tasks, 50)) if tasks else 0)
        return out


def measure(container_ks=(1, 5, 20), vm_ks=(1, 2, 4), *, vm_memory_mib: int = 128, accel: str = "auto",
            kernel=None, progress=None) -> Density:
    from .qemu import resolve_accel
    chosen, why = resolve_accel(accel) if vm_ks else ("-", "no VMs")
    result = Density(host_labels(kind="density", accel=chosen, accel_reason=why, vm_memory_mib=vm_memory_mib,
                                 container="minicontainer run -d --network none busybox sleep",
                                 vm="pc, busybox initramfs, sleeping after /init"))
    for k in container_ks:
        if progress:
            progress(f"starting {k} container(s) at once")
        result.points.append(measure_containers(k))
    for k in vm_ks:
        if progress:
            progress(f"booting {k} VM(s) at once ({chosen})")
        result.points.append(measure_vms(k, memory_mib=vm_memory_mib, accel=chosen, kernel=kernel))
    return result


# --- storage (beside vmcompare.results' tables, same SQLite file) -----------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS density_runs (id INTEGER PRIMARY KEY, date TEXT, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS density_points (
    run_id INTEGER NOT NULL REFERENCES density_runs(id) ON DELETE CASCADE, kind TEXT NOT NULL, k INTEGER NOT NULL,
    error TEXT, instances TEXT NOT NULL, kernel_kib INTEGER);
"""


def _connect(path):
    import sqlite3
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(SCHEMA)
    if "kernel_kib" not in {row[1] for row in db.execute("PRAGMA table_info(density_points)")}:
        db.execute("ALTER TABLE density_points ADD COLUMN kernel_kib INTEGER")   # an older database
    return db


def save(result: Density, path) -> int:
    import json
    from dataclasses import asdict
    db = _connect(path)
    try:
        with db:
            rid = db.execute("INSERT INTO density_runs (date, labels) VALUES (?, ?)",
                             (result.labels.get("date"), json.dumps(result.labels, sort_keys=True))).lastrowid
            db.executemany("INSERT INTO density_points VALUES (?,?,?,?,?,?)",
                           [(rid, p.kind, p.k, p.error, json.dumps([asdict(i) for i in p.instances]), p.kernel_kib)
                            for p in result.points])
        return rid
    finally:
        db.close()


def load(path, run_id: int | None = None) -> Density | None:
    """A stored density run (the latest when ``run_id`` is None), or None."""
    import json
    if not Path(path).exists():
        return None
    db = _connect(path)
    try:
        row = db.execute("SELECT id, labels FROM density_runs " + ("WHERE id = ?" if run_id is not None else
                         "ORDER BY id DESC LIMIT 1"), (run_id,) if run_id is not None else ()).fetchone()
        if row is None:
            return None
        result = Density(json.loads(row[1]))
        for kind, k, error, insts, kernel in db.execute("SELECT kind, k, error, instances, kernel_kib FROM "
                                                        "density_points WHERE run_id = ? ORDER BY rowid", (row[0],)):
            result.points.append(Point(kind, k, [Instance(**i) for i in json.loads(insts)], error, kernel))
        return result
    finally:
        db.close()


# --- the figure -----------------------------------------------------------------------------

def figure(result: Density, *, host_ram_mib: float | None = None, cores: int | None = None,
           other_cores: int = 16, reserve_mib: float = 1024, limits: HostLimits | None = None):
    """Left: host memory for N running instances; right: boot-storm time for N started at once.
    Measured points are filled markers; the model's projections are dashed lines, capped by
    ``limits`` (PIDs) and including kernel memory per instance where it was measured. A refused
    start-time fit draws no projection, and says so in the legend."""
    from .measure import provenance
    from .plot import _plt
    plt = _plt()
    cores = cores or int(result.labels.get("cores") or 1)
    host_ram_mib = host_ram_mib or _host_ram_mib()
    costs = result.costs()
    fig, (ax_m, ax_t) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    colours = {"container": "#1f77b4", "vm": "#d62728"}
    accel = str(result.labels.get("accel", "?")).upper()
    for kind, cost in costs.items():
        name = "container" if kind == "container" else f"VM ({accel})"
        n_fit, by = capacity(host_ram_mib, cores, cost, reserve_mib=reserve_mib, limits=limits)
        ns = sorted({1, *range(0, max(n_fit, 2) + 1, max(1, max(n_fit, 2) // 50))} - {0})
        per = cost.mem_mib + (cost.kernel_mib or 0.0)
        ax_m.plot(ns, [n * per / 1024 for n in ns], "--", color=colours[kind],
                  label=f"{name}: projected (fits {n_fit}, limit: {by})")
        pts = [p for p in result.points if p.kind == kind and p.per_instance_mib()]
        ax_m.plot([p.k for p in pts], [p.k * p.per_instance_mib() / 1024 for p in pts], "o", color=colours[kind],
                  label=f"{name}: measured")
        storm_n = [1, 2, 5, 10, 20, 50, 100, 200]
        if cost.work_s is not None:
            ax_t.plot(storm_n, [storm_seconds(n, cores, cost) for n in storm_n], "--", color=colours[kind],
                      label=f"{name}: projected, {cores} cores")
            ax_t.plot(storm_n, [storm_seconds(n, other_cores, cost) for n in storm_n], ":", color=colours[kind],
                      label=f"{name}: projected, {other_cores} cores")
        pts = [p for p in result.points if p.kind == kind and p.storm_s is not None]
        ax_t.plot([p.k for p in pts], [p.storm_s for p in pts], "o", color=colours[kind],
                  label=f"{name}: measured" + ("" if cost.work_s is not None else " (fit refused: no projection)"))
    ax_m.axhline((host_ram_mib - reserve_mib) / 1024, color="grey", lw=1)
    ax_m.set(xscale="log", yscale="log", xlabel="running instances", ylabel="host memory, GiB (PSS)",
             title=f"Memory: this host ({host_ram_mib / 1024:.0f} GiB, {reserve_mib / 1024:.0f} GiB kept back)")
    ax_t.set(xscale="log", yscale="log", xlabel="instances started at once", ylabel="seconds until the last is up",
             title="Boot storm")
    fig.suptitle(provenance(result.labels, result.labels.get("accel")) + "; dashed/dotted lines: PROJECTED by the model",
                 fontsize="small")
    ax_m.legend(fontsize="x-small")
    ax_t.legend(fontsize="x-small")
    return fig


def _host_ram_mib() -> float:
    import psutil
    return psutil.virtual_memory().total / MiB

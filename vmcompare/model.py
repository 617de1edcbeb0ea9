"""The density model (pure): what one instance costs, how many fit, how long a boot storm takes.

A deliberately small model, fitted to points :mod:`vmcompare.density` measured, and honest
about what it cannot say:

* it **refuses a degenerate fit**: if k instances started at once came up *faster* than
  fewer did, or storm time does not grow with k, the points are noise (or every start ran
  on its own core), not a trend; a slope fitted through them would project nonsense (zero
  CPU per start, instant storms of thousands), so :func:`fit` keeps the memory figure and
  records the refusal, and :func:`storm_seconds` raises it;
* it is **capped by the host limits** a memory-only count ignores: every process and thread
  takes a PID (``/proc/sys/kernel/pid_max``, ``/proc/sys/kernel/threads-max``, proc(5)),
  and every instance costs *kernel* memory (slab objects for its namespaces, mounts, cgroups,
  page tables, kernel stacks: ``Slab``, ``KernelStack``, ``PageTables`` in ``/proc/meminfo``)
  that no process's PSS shows. :func:`host_limits` reads them from a ``proc_root`` passed in;
  :func:`capacity` names the limit that binds, and says when kernel memory was not measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from minicontainer.errors import MiniContainerError, UsageError
from minicontainer.paths import PROC_ROOT

from .measure import percentile


class ModelError(MiniContainerError):
    """The model refuses to project from these points."""


@dataclass(frozen=True)
class Cost:
    """What one instance costs, as the model sees it."""

    kind: str                 # "container" or "vm"
    mem_mib: float            # host memory per running instance (PSS)
    work_s: float | None      # CPU-seconds one start needs (the part that queues for cores); None: refused
    latency_s: float = 0.0    # the part of one start that does not need a core (waiting, I/O)
    refused: str = ""         # why the start-time fit was refused (work_s is None then)
    kernel_mib: float | None = None   # kernel memory per instance (slab, stacks, page tables); None: not measured
    tasks: int = 0            # PIDs (processes + threads) per instance; 0: not measured


@dataclass(frozen=True)
class HostLimits:
    """The host limits a memory-only count ignores, as read from /proc."""

    pid_max: int
    threads_max: int
    tasks_now: int            # scheduling entities (threads) running now, from /proc/loadavg

    @property
    def free_pids(self) -> int:
        return max(0, min(self.pid_max, self.threads_max) - self.tasks_now)


def host_limits(proc_root: Path = PROC_ROOT) -> HostLimits:
    """pid_max, threads-max and the current task count, from ``proc_root`` (proc(5))."""
    try:
        pid_max = int((proc_root / "sys/kernel/pid_max").read_text())
        threads_max = int((proc_root / "sys/kernel/threads-max").read_text())
        tasks_now = int((proc_root / "loadavg").read_text().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError) as err:
        raise ModelError(f"cannot read the host's limits: {err}", op="read host limits", path=proc_root) from err
    return HostLimits(pid_max, threads_max, tasks_now)


def kernel_memory_kib(proc_root: Path = PROC_ROOT) -> int:
    """Kernel memory that belongs to no process's PSS: Slab + KernelStack + PageTables, in KiB."""
    fields = {}
    try:
        for line in (proc_root / "meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0]) if rest.split() else 0
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot read meminfo: {err}", op="read kernel memory", path=proc_root / "meminfo") from err
    return sum(fields.get(k, 0) for k in ("Slab", "KernelStack", "PageTables"))


def capacity(host_ram_mib: float, cores: int, cost: Cost, *, reserve_mib: float = 1024,
             cpu_per_instance: float = 0.0, limits: HostLimits | None = None) -> tuple[int, str]:
    """How many running instances fit, and what limits it ("memory", "memory+kernel", "cpu",
    "pids"; "(kernel memory not measured)" is added when the memory count could not include it).

    ``reserve_mib`` is kept for the host itself; ``cpu_per_instance`` is the cores each
    instance keeps busy once running (0: idle instances, CPU never limits); ``limits`` caps the
    count by the PIDs left (each instance takes ``cost.tasks`` of them)."""
    if host_ram_mib <= 0 or cores < 1 or cost.mem_mib <= 0 or cpu_per_instance < 0:
        raise UsageError("host RAM, cores and memory per instance must be positive", op="project capacity")
    per = cost.mem_mib + (cost.kernel_mib or 0.0)
    n = max(0, math.floor((host_ram_mib - reserve_mib) / per))
    by = "memory+kernel" if cost.kernel_mib else "memory (kernel memory not measured)"
    if cpu_per_instance > 0:
        by_cpu = math.floor(cores / cpu_per_instance + 1e-9)
        if by_cpu < n:
            n, by = by_cpu, "cpu"
    if limits is not None and cost.tasks > 0:
        by_pids = limits.free_pids // cost.tasks
        if by_pids < n:
            n, by = by_pids, "pids"
    elif limits is not None:
        by += ", pids not counted"
    return n, by


def storm_seconds(n: int, cores: int, cost: Cost) -> float:
    """Seconds until the last of ``n`` instances started at once is up on ``cores`` cores:
    ``latency + work * max(1, n / cores)`` (fewer starts than cores run side by side).
    Raises :class:`ModelError` when the fit was refused."""
    if n < 1 or cores < 1:
        raise UsageError("n and cores must be at least 1", op="project boot storm")
    if cost.work_s is None:
        raise ModelError(cost.refused or "no start-time fit", op="project boot storm")
    return cost.latency_s + cost.work_s * max(1.0, n / cores)


def _degenerate(kind: str, pts: list[tuple[int, float, float]]) -> str:
    for (k1, t1, _), (k2, t2, _) in zip(pts, pts[1:]):
        if k2 > k1 and t2 < t1:
            return (f"{kind}: {k2} started at once were all up after {t2:.2f} s, sooner than {k1} "
                    f"({t1:.2f} s): these points are noise, not a trend; no start-time projection from them")
    return ""


def fit(kind: str, points: list[tuple[int, float, float]], cores: int, *, kernel_mib: float | None = None,
        tasks: int = 0) -> Cost:
    """A :class:`Cost` from measured points ``(k, storm_seconds, mem_mib_per_instance)``.

    The slope of storm time over k (least squares, over the points with k >= cores, or all
    of them when fewer than two qualify) is ``work/cores``; the latency is what the single
    start's time leaves over. Memory is the median of the per-instance figures. A storm that
    got faster with more instances, or a slope that is not positive, is refused (see the
    module's docstring): the Cost keeps its memory and says why it has no ``work_s``."""
    if not points or cores < 1:
        raise UsageError("no measured points to fit", op="fit density model")
    pts = sorted(points)
    mem = percentile([p[2] for p in pts], 50)
    refused = _degenerate(kind, pts)
    if refused:
        return Cost(kind, mem, None, refused=refused, kernel_mib=kernel_mib, tasks=tasks)
    busy = [p for p in pts if p[0] >= cores]
    use = busy if len({p[0] for p in busy}) >= 2 else pts
    if len({p[0] for p in use}) >= 2:
        n = len(use)
        mx = sum(p[0] for p in use) / n
        my = sum(p[1] for p in use) / n
        slope = sum((p[0] - mx) * (p[1] - my) for p in use) / sum((p[0] - mx) ** 2 for p in use)
        if slope <= 0:
            return Cost(kind, mem, None, refused=f"{kind}: storm time does not grow with k (slope {slope:.4f} s per "
                        "instance): no start-time projection from these points", kernel_mib=kernel_mib, tasks=tasks)
        work = slope * cores
    else:
        work = pts[0][1]
    single = next((p[1] for p in pts if p[0] == 1), pts[0][1])
    return Cost(kind, mem, work, max(single - work, 0.0), kernel_mib=kernel_mib, tasks=tasks)


def projection(cost: Cost, host_ram_mib: float, cores: int, *, limits: HostLimits | None = None,
               storm_n: int = 100, reserve_mib: float = 1024) -> str:
    """One line, labelled PROJECTED: how many fit and what limits it, and the boot storm of
    ``storm_n`` (or why the model will not project one)."""
    n, by = capacity(host_ram_mib, cores, cost, reserve_mib=reserve_mib, limits=limits)
    storm = (f"{storm_n} started at once: {storm_seconds(storm_n, cores, cost):.1f} s" if cost.work_s is not None
             else f"no boot-storm projection ({cost.refused})")
    kernel = f" + {cost.kernel_mib:.2f} MiB kernel" if cost.kernel_mib else ", kernel memory not measured"
    work = f", {cost.work_s:.2f} CPU-s per start" if cost.work_s is not None else ""
    return (f"PROJECTED {cost.kind} on {host_ram_mib / 1024:.0f} GiB / {cores} cores: {n} fit (limit: {by}); {storm}"
            f"   [fitted: {cost.mem_mib:.2f} MiB PSS{kernel}{work}]")

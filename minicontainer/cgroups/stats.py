"""``docker stats``-like figures from two samples of a cgroup's counters.

The kernel only keeps running totals: ``cpuacct.usage`` (v1) or ``usage_usec`` in
``cpu.stat`` (v2) is the CPU time every process of the group has used since it was
created. A CPU percentage is therefore a *rate* between two samples::

    CPU % = (cpu time used between the samples) / (wall time between them) * 100

so 100 % is one CPU kept busy and a group using two CPUs shows 200 %, as in
``docker stats``. Memory is the group's current charge (page cache included) against its
limit; without a limit, Docker shows the host's total memory, read from
``/proc/meminfo`` (proc(5)).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import CgroupStats


@dataclass(frozen=True)
class StatsRow:
    """One line of the table."""

    container_id: str
    name: str
    cpu_percent: float | None
    memory_usage: int | None
    memory_limit: int | None
    pids: int | None

    @property
    def memory_percent(self) -> float | None:
        if self.memory_usage is None or not self.memory_limit:
            return None
        return 100.0 * self.memory_usage / self.memory_limit


def cpu_percent(before: CgroupStats, after: CgroupStats) -> float | None:
    """CPU use between two samples, in percent of one CPU."""
    if before.cpu_usage_ns is None or after.cpu_usage_ns is None:
        return None
    wall = after.time_ns - before.time_ns
    if wall <= 0:
        return None
    return 100.0 * max(0, after.cpu_usage_ns - before.cpu_usage_ns) / wall


def host_memory(proc_root: Path) -> int | None:
    """MemTotal from ``<proc_root>/meminfo``, in bytes."""
    try:
        for line in (Path(proc_root) / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def make_row(container_id: str, name: str, before: CgroupStats, after: CgroupStats,
             host_total: int | None = None) -> StatsRow:
    """A table row from two samples; an unlimited group is shown against ``host_total``."""
    limit = after.memory_limit
    if limit is None or (host_total is not None and limit > host_total):
        limit = host_total
    return StatsRow(container_id, name, cpu_percent(before, after), after.memory_usage, limit,
                    after.pids_current)


def format_bytes(value: int | None) -> str:
    """1536 -> ``1.5KiB``, as docker stats prints sizes."""
    if value is None:
        return "--"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.4g}{unit}"
        size /= 1024
    return f"{value}B"  # unreachable


def _pct(value: float | None) -> str:
    return "--" if value is None else f"{value:.2f}%"


HEADER = ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS")


def format_table(rows: list[StatsRow]) -> str:
    """The rows as ``docker stats --no-stream`` lays them out."""
    lines = [HEADER]
    for r in rows:
        lines.append((r.container_id[:12], r.name, _pct(r.cpu_percent),
                      f"{format_bytes(r.memory_usage)} / {format_bytes(r.memory_limit)}",
                      _pct(r.memory_percent), "--" if r.pids is None else str(r.pids)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)

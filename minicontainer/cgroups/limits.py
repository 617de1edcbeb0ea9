"""Resource limits as the user writes them (``-m 64m --cpus 0.5``), checked before anything exists.

Each flag maps to one or two cgroup files (see cgroups(7), and for v2 the kernel's
Documentation/admin-guide/cgroup-v2.rst):

=================  ===============================  ======================================
flag               cgroup v1                        cgroup v2
=================  ===============================  ======================================
``-m/--memory``    memory.limit_in_bytes            memory.max
``--memory-swap``  memory.memsw.limit_in_bytes      memory.swap.max (= swap - memory)
``--cpus``         cpu.cfs_quota_us / _period_us    cpu.max ("quota period")
``-c/--cpu-shares`` cpu.shares                      cpu.weight (converted as runc does)
``--pids-limit``   pids.max                         pids.max
``--cpuset-cpus``  cpuset.cpus                      cpuset.cpus
=================  ===============================  ======================================

``--cpus 0.5`` is CFS bandwidth control: in every period of 100 ms the group may run for
50 ms of CPU time in total, then it is throttled until the next period (see the kernel's
Documentation/scheduler/sched-bwc.rst). As in Docker, ``--memory-swap`` is memory *plus*
swap, ``-1`` meaning unlimited swap.

Everything here is pure parsing: bad input raises :class:`UsageError` with one clear
line, before any cgroup is created.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import asdict, dataclass

from ..errors import UsageError
from ..units import parse_size

CFS_PERIOD_US = 100_000            # the CFS period Docker and runc use (100 ms)
MIN_MEMORY = 6 * 1024 * 1024       # Docker's minimum: smaller limits OOM before the process starts
MIN_SHARES, MAX_SHARES = 2, 262_144  # the kernel's range for cpu.shares (kernel/sched/sched.h)



@dataclass(frozen=True)
class Limits:
    """Limits to apply; ``None`` leaves a knob as it is (so ``update`` changes only what it names)."""

    memory: int | None = None          # bytes
    memory_swap: int | None = None     # bytes of memory + swap; -1: unlimited swap
    cpus: float | None = None          # CPUs' worth of time per period
    cpu_period: int | None = None      # the CFS period in us (None: CFS_PERIOD_US, as Docker's --cpus)
    cpu_shares: int | None = None      # relative weight, 2..262144 (default 1024)
    pids_limit: int | None = None      # max tasks; -1: unlimited
    cpuset_cpus: str | None = None     # canonical list such as "0-1,3"

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def to_dict(self) -> dict:
        """Only the limits that are set (for a container's state.json)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "Limits":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def merged(self, update: "Limits") -> "Limits":
        """These limits with every limit set in ``update`` replaced (``update`` wins)."""
        return Limits(**{**asdict(self), **update.to_dict()})

    def period_us(self) -> int:
        """The CFS period: ``cpu_period`` when given (linux.resources.cpu.period), else :data:`CFS_PERIOD_US`."""
        return self.cpu_period or CFS_PERIOD_US

    def cpu_quota_us(self) -> int | None:
        """CFS quota in microseconds per :meth:`period_us` for ``cpus``."""
        return None if self.cpus is None else max(1000, round(self.cpus * self.period_us()))


def parse_memory(text: str) -> int:
    value = parse_size(text, "memory limit")
    if value < MIN_MEMORY:
        raise UsageError(f"invalid memory limit {text!r}: the minimum is 6m", op="parse")
    return value


def parse_memory_swap(text: str) -> int:
    if str(text).strip() == "-1":
        return -1
    return parse_size(text, "memory+swap limit")


def parse_cpus(text: str, host_cpus: int | None = None) -> float:
    """``"0.5"`` -> 0.5; must be between 0.01 and the number of CPUs we may use."""
    host_cpus = host_cpus or len(os.sched_getaffinity(0))
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"invalid --cpus {text!r}: expected a number such as 0.5", op="parse") from None
    if not 0.01 <= value <= host_cpus:
        raise UsageError(f"invalid --cpus {text!r}: the range is 0.01 to {host_cpus} (the CPUs available)",
                         op="parse")
    return value


def parse_cpu_shares(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"invalid --cpu-shares {text!r}: expected an integer", op="parse") from None
    if not MIN_SHARES <= value <= MAX_SHARES:
        raise UsageError(f"invalid --cpu-shares {text!r}: the range is {MIN_SHARES} to {MAX_SHARES}",
                         op="parse")
    return value


def parse_pids_limit(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"invalid --pids-limit {text!r}: expected an integer", op="parse") from None
    if value == 0 or value < -1:
        raise UsageError(f"invalid --pids-limit {text!r}: use a positive number, or -1 for no limit",
                         op="parse")
    return value


def parse_cpuset(text: str, available: set[int] | None = None) -> str:
    """``"1,0-1"`` -> ``"0-1"``: the kernel's list format (cpuset(7) "List format"), checked
    against the CPUs this process may use (sched_getaffinity(2))."""
    available = set(os.sched_getaffinity(0)) if available is None else set(available)
    cpus: set[int] = set()
    for part in str(text).strip().split(","):
        match = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        if not match:
            raise UsageError(f"invalid --cpuset-cpus {text!r}: expected a list such as 0-1,3", op="parse")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise UsageError(f"invalid --cpuset-cpus {text!r}: range {part.strip()} is reversed", op="parse")
        cpus.update(range(low, high + 1))
    missing = sorted(cpus - available)
    if missing:
        raise UsageError(f"invalid --cpuset-cpus {text!r}: cpu {format_cpu_list(set(missing))} not available "
                         f"(this host offers {format_cpu_list(available)})", op="parse")
    return format_cpu_list(cpus)


def format_cpu_list(cpus: set[int]) -> str:
    """{0, 1, 3} -> ``"0-1,3"``."""
    out, ordered = [], sorted(cpus)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def build_limits(*, memory: str | None = None, memory_swap: str | None = None, cpus: str | None = None,
                 cpu_shares: str | None = None, pids_limit: str | None = None, cpuset_cpus: str | None = None,
                 available_cpus: set[int] | None = None) -> Limits:
    """Parse every flag given as text and check them against each other."""
    available = set(os.sched_getaffinity(0)) if available_cpus is None else set(available_cpus)
    limits = Limits(
        memory=parse_memory(memory) if memory is not None else None,
        memory_swap=parse_memory_swap(memory_swap) if memory_swap is not None else None,
        cpus=parse_cpus(cpus, len(available)) if cpus is not None else None,
        cpu_shares=parse_cpu_shares(cpu_shares) if cpu_shares is not None else None,
        pids_limit=parse_pids_limit(pids_limit) if pids_limit is not None else None,
        cpuset_cpus=parse_cpuset(cpuset_cpus, available) if cpuset_cpus is not None else None,
    )
    if limits.memory_swap is not None and limits.memory_swap != -1:
        if limits.memory is None:
            raise UsageError("--memory-swap needs --memory as well", op="parse")
        if limits.memory_swap < limits.memory:
            raise UsageError("--memory-swap must be at least --memory (it counts memory plus swap)", op="parse")
    return limits


def limits_from_args(args: argparse.Namespace, available_cpus: set[int] | None = None) -> Limits:
    """The :class:`Limits` named by the limit flags (:func:`minicontainer.cli.flags.add_limit_arguments`)."""
    return build_limits(memory=args.memory, memory_swap=args.memory_swap, cpus=args.cpus,
                        cpu_shares=args.cpu_shares, pids_limit=args.pids_limit, cpuset_cpus=args.cpuset_cpus,
                        available_cpus=available_cpus)


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) -> cgroup v2 cpu.weight (1..10000, default 100).

    The same linear map runc uses (ConvertCPUSharesToCgroupV2Value): 2 -> 1, 262144 -> 10000.
    """
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142

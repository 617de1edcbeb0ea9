"""``GET /containers/{id}/stats``: the cgroup's counters in Docker's stats document.

A client computes the CPU percentage itself from two samples, as ``docker stats`` does::

    (cpu_stats.cpu_usage.total_usage - precpu_stats.cpu_usage.total_usage)
    / (cpu_stats.system_cpu_usage - precpu_stats.system_cpu_usage) * online_cpus * 100

``system_cpu_usage`` is the host's CPU time in nanoseconds, all CPUs together: the sum of
the ``cpu`` line of /proc/stat (proc(5)), which counts in clock ticks (USER_HZ).
A one-shot sample leaves ``precpu_stats`` empty; otherwise the first document carries
a sample taken a second earlier, and a stream sends one document a second.
"""

from __future__ import annotations

import os
import time

from ..errors import MiniContainerError
from ..runtime.inspect import rfc3339

INTERVAL = 1.0


def system_cpu_ns(proc_root) -> int:
    with open(os.path.join(proc_root, "stat")) as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(v) for v in line.split()[1:8])
                return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def _sample(rt, c) -> dict:
    cpus = len(os.sched_getaffinity(0))
    doc = {"read": rfc3339(time.time()), "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                                       "usage_in_usermode": 0},
           "system_cpu_usage": system_cpu_ns(rt.proc_root), "online_cpus": cpus,
           "memory": {}, "pids": {}}
    try:
        mgr = rt.cgroup_manager(c.id, rt.sys)
        st = mgr.stats() if mgr.exists() else None
    except MiniContainerError:
        st = None
    if st is not None:
        doc["cpu_usage"]["total_usage"] = st.cpu_usage_ns or 0
        doc["memory"] = {"usage": st.memory_usage or 0, "limit": st.memory_limit or _host_memory(rt),
                         "stats": {}, "failcnt": 0, "max_usage": 0}
        doc["pids"] = {"current": st.pids_current or 0} | ({"limit": st.pids_limit} if st.pids_limit else {})
        doc["throttled"] = st.nr_throttled or 0
    return doc


def _host_memory(rt) -> int:
    from ..cgroups.stats import host_memory
    return host_memory(rt.proc_root) or 0


def _cpu(sample: dict | None) -> dict:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    return {"cpu_usage": sample["cpu_usage"], "system_cpu_usage": sample["system_cpu_usage"],
            "online_cpus": sample["online_cpus"],
            "throttling_data": {"periods": 0, "throttled_periods": sample.get("throttled", 0),
                                "throttled_time": 0}}


def document(c, now: dict, before: dict | None) -> dict:
    return {"read": now["read"], "preread": before["read"] if before else "0001-01-01T00:00:00Z",
            "id": c.id, "name": "/" + c.name, "num_procs": 0,
            "pids_stats": now["pids"], "cpu_stats": _cpu(now), "precpu_stats": _cpu(before),
            "memory_stats": now["memory"], "blkio_stats": {}, "networks": {}, "storage_stats": {}}


def stats_documents(rt, c, *, stream: bool, one_shot: bool = False, stop=lambda: False):
    """Stats documents for ``c``: one (``stream`` false), or one a second until it stops running
    or ``stop()`` says the client left."""
    from ..runtime.watch import LIVE
    before = None if one_shot else _sample(rt, c)
    if before is not None:
        time.sleep(INTERVAL if not stream else 0.0)
    while True:
        if stream and before is not None:
            for _ in range(int(INTERVAL / 0.1)):
                if stop():
                    return
                time.sleep(0.1)
        now = _sample(rt, c)
        yield document(c, now, before)
        if not stream:
            return
        before = now
        try:
            live = rt.refresh(rt.containers.load(c.id)).state in LIVE
        except MiniContainerError:
            live = False
        if not live:
            return

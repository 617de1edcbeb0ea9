"""``top``: the container's processes, found through its cgroup and read from the host's /proc.

Every process of the container is in its cgroup (children inherit it), so the cgroup's
``cgroup.procs`` is the authoritative list; the host's /proc then tells their owners,
parents and command lines (proc(5)) with host PIDs, as ``docker top`` shows them.
"""

from __future__ import annotations

import os
import time

from .state import require


def _stat(proc_root, pid: int) -> tuple[int, float]:
    text = (proc_root / str(pid) / "stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    ppid, start_ticks = int(fields[1]), int(fields[19])
    boot = 0.0
    for line in (proc_root / "stat").read_text().splitlines():
        if line.startswith("btime "):
            boot = float(line.split()[1])
    return ppid, boot + start_ticks / os.sysconf("SC_CLK_TCK")


def processes(rt, ref: str) -> list[dict]:
    c = rt.refresh(rt.containers.get(ref))
    require(c.state, "exec", c.name)
    rows = []
    for pid in sorted(rt.cgroup_manager(c.id, rt.sys).pids()):
        try:
            ppid, started = _stat(rt.proc_root, pid)
            uid = next(int(line.split()[1]) for line in (rt.proc_root / str(pid) / "status").read_text().splitlines()
                       if line.startswith("Uid:"))
            cmd = (rt.proc_root / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, StopIteration, ValueError):
            continue  # exited meanwhile
        rows.append({"uid": uid, "pid": pid, "ppid": ppid, "stime": time.strftime("%H:%M", time.localtime(started)),
                     "cmd": cmd.strip()})
    return rows

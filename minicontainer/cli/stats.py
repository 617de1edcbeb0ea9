"""``minicontainer stats [--no-stream] [-a] [CONTAINER...]``: live resource use, like ``docker stats``.

Each figure is read from the container's cgroup (see minicontainer/cgroups/stats.py for
how a CPU percentage comes from two samples of a running total). Without ``--no-stream``
the table is redrawn every interval until Ctrl-C.
"""

from __future__ import annotations

import sys
import time

from ..errors import MiniContainerError

INTERVAL = 1.0   # seconds between the two samples of one table (docker stats uses about one second)


def add_arguments(p) -> None:
    p.add_argument("--no-stream", action="store_true", help="print one table and exit")
    p.add_argument("-a", "--all", action="store_true", help="show every container (default: running ones)")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def _targets(rt, args):
    from ..runtime.state import Status
    if args.containers:
        return [rt.refresh(rt.containers.get(ref)) for ref in args.containers]   # NotFoundError: one line, 125
    everything = [rt.refresh(c) for c in rt.containers.list()]
    return [c for c in everything if args.all or c.state in (Status.RUNNING, Status.PAUSED)]


def _sample(rt, containers):
    """{container id: CgroupStats or None} -- None for a container without a cgroup (not running)."""
    out = {}
    for c in containers:
        try:
            mgr = rt.cgroup_manager(c.id, rt.sys)
            out[c.id] = mgr.stats() if mgr.exists() else None
        except MiniContainerError:
            out[c.id] = None
    return out


def sample_rows(rt, containers, interval: float = INTERVAL):
    """Two samples ``interval`` seconds apart -> one :class:`StatsRow` per container."""
    from ..cgroups.stats import StatsRow, host_memory, make_row
    before = _sample(rt, containers)
    time.sleep(interval)
    after = _sample(rt, containers)
    total = host_memory(rt.proc_root)
    rows = []
    for c in containers:
        first, second = before.get(c.id), after.get(c.id)
        if first is None or second is None:
            rows.append(StatsRow(c.id, c.name, None, None, None, None))
        else:
            rows.append(make_row(c.id, c.name, first, second, total))
    return rows


def _table(rows) -> str:
    from ..cgroups.stats import format_table
    return format_table(rows)


def execute(args) -> int:
    from ..runtime import Runtime
    rt = Runtime(args.root)
    containers = _targets(rt, args)
    if args.no_stream:
        print(_table(sample_rows(rt, containers)))
        return 0
    clear = "\033[2J\033[H" if sys.stdout.isatty() else ""
    try:
        while True:
            rows = sample_rows(rt, containers)
            sys.stdout.write(clear + _table(rows) + "\n")
            sys.stdout.flush()
            if not args.containers:
                containers = _targets(rt, args)   # follow containers starting and stopping
    except KeyboardInterrupt:
        return 0

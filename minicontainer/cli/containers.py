"""Container verbs: ``ps`` and ``rm`` (more arrive with the lifecycle chapter)."""

from __future__ import annotations

import json
import time

from .. import runtime
from ..errors import MiniContainerError


def ago(seconds: float) -> str:
    """Docker's relative times: "3 seconds", "About a minute", "2 hours"."""
    s = int(max(0, seconds))
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    if s < 120:
        return "About a minute"
    if s < 3600:
        return f"{s // 60} minutes"
    if s < 7200:
        return "About an hour"
    if s < 86400 * 2:
        return f"{s // 3600} hours"
    return f"{s // 86400} days"


def status_text(c, now: float) -> str:
    st = c.state
    if st is runtime.Status.RUNNING:
        return f"Up {ago(now - c.started_at)}"
    if st is runtime.Status.PAUSED:
        return f"Up {ago(now - c.started_at)} (Paused)"
    if st is runtime.Status.EXITED:
        return f"Exited ({c.exit_code}) {ago(now - c.finished_at)} ago"
    if st is runtime.Status.DEAD:
        return "Dead"
    return "Created"


def add_ps_arguments(p) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running only)")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("--format", choices=["table", "json"], default="table")


def execute_ps(args) -> int:
    rt = runtime.Runtime(args.root)
    now = time.time()
    rows = []
    for c in rt.containers.list():
        rt.refresh(c)
        if not args.all and c.state not in (runtime.Status.RUNNING, runtime.Status.PAUSED):
            continue
        rows.append(c)
    if args.quiet:
        for c in rows:
            print(c.id if args.no_trunc else c.short_id)
        return 0
    if args.format == "json":
        for c in rows:
            print(json.dumps(c.to_dict()))
        return 0
    table = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")]
    for c in rows:
        cmd = " ".join(c.command)
        if not args.no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        table.append((c.id if args.no_trunc else c.short_id, c.image, f'"{cmd}"',
                      f"{ago(now - c.created)} ago", status_text(c, now), "", c.name))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0


def add_rm_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill and remove a running container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def execute_rm(args) -> int:
    import sys
    rt = runtime.Runtime(args.root)
    code = 0
    for ref in args.containers:
        try:
            rt.remove(ref, force=args.force)
            print(ref)
        except MiniContainerError as err:
            print(f"minicontainer: {err}", file=sys.stderr)
            code = 1
    return code

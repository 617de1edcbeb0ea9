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


def add_inspect_arguments(p) -> None:
    p.add_argument("--type", choices=["container", "image"], help="only look for this kind of object")
    p.add_argument("objects", nargs="+", metavar="NAME|ID")


def execute_inspect(args) -> int:
    """Containers first, then images, as ``docker inspect`` resolves names."""
    import sys
    from ..errors import NotFoundError
    from ..images.store import ImageStore
    from ..runtime.inspect import container_json
    from .images import image_json
    rt = runtime.Runtime(args.root)
    out, code = [], 0
    for ref in args.objects:
        try:
            if args.type != "image":
                try:
                    out.append(container_json(rt.refresh(rt.containers.get(ref))))
                    continue
                except NotFoundError:
                    if args.type == "container":
                        raise
            out.append(image_json(ImageStore(rt.root).resolve(ref)))
        except MiniContainerError as err:
            print(f"minicontainer: no such object: {ref}" if isinstance(err, NotFoundError) else
                  f"minicontainer: {err}", file=sys.stderr)
            code = 1
    print(json.dumps(out, indent=4))
    return code


def add_logs_arguments(p) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the container exits")
    p.add_argument("-n", "--tail", default="all", help="number of lines from the end (default all)")
    p.add_argument("-t", "--timestamps", action="store_true", help="show each line's time")
    p.add_argument("--since", help="only lines since a time (RFC 3339) or a duration ago (10s, 5m, 1h)")
    p.add_argument("container")


def execute_logs(args) -> int:
    import sys
    from ..runtime.logs import follow, parse_since, read_log
    rt = runtime.Runtime(args.root)
    c = rt.containers.get(args.container)
    since = parse_since(args.since) if args.since else None
    if args.tail != "all" and not str(args.tail).isdigit():
        raise MiniContainerError(f"invalid --tail value {args.tail!r}", op="logs")
    tail = None if args.tail == "all" else int(args.tail)
    records = follow(rt, c, since=since, tail=tail) if args.follow else read_log(c.dir, since=since, tail=tail)
    for rec in records:
        stream = sys.stdout if rec["stream"] == "stdout" else sys.stderr
        stream.write((rec["time"] + " " if args.timestamps else "") + rec["log"])
        stream.flush()
    return 0


def add_top_arguments(p) -> None:
    p.add_argument("container")


def execute_top(args) -> int:
    from ..runtime.top import processes
    rt = runtime.Runtime(args.root)
    rows = processes(rt, args.container)
    table = [("UID", "PID", "PPID", "STIME", "CMD")] + [tuple(str(r[k]) for k in ("uid", "pid", "ppid", "stime", "cmd"))
                                                         for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0

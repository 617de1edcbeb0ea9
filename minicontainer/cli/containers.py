"""Container verbs: ``ps`` and ``rm`` (more arrive with the lifecycle chapter)."""

from __future__ import annotations

import time

from .. import runtime
from ..containerlist import ago, matches, parse_filters, status_text
from ..errors import MiniContainerError, UsageError
from .formats import PS_FIELDS as FIELDS, PS_TABLE


def docker_codes(execute):
    """Docker's CLI exits 1 when a verb on existing objects fails (unknown container, wrong state,
    bad filter); 125 stays for ``run``/``create``, 126/127 for a command that cannot run."""
    import functools
    import sys

    @functools.wraps(execute)
    def wrapper(args) -> int:
        try:
            return execute(args)
        except MiniContainerError as err:
            if err.exit_code in (126, 127):
                raise
            print(f"minicontainer: {err}", file=sys.stderr)
            return 1
    return wrapper


def add_ps_arguments(p) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running only)")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="status=, name=, id=, ancestor=, exited=, label=KEY[=VALUE] (same key: any matches; "
                        "keys: all match; every label must)")
    p.add_argument("--format", default="table",
                   help="'table', 'json', or a Go template such as 'table {{.ID}}\\t{{.Names}}'")


def ports_text(c) -> str:
    """Published ports, as docker shows them: only while the container runs (they are gone after)."""
    if c.state not in (runtime.Status.RUNNING, runtime.Status.PAUSED):
        return ""
    net = c.extra.get("network") or {}
    return ", ".join(f"{m.get('host_ip') or '0.0.0.0'}:{m.get('host_port')}->{m.get('container_port')}/"
                     f"{m.get('proto', 'tcp')}" for m in net.get("ports") or [])


def row(c, now: float, no_trunc: bool) -> dict[str, str]:
    cmd = " ".join(c.command)
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    net = (c.extra.get("network") or {}).get("network") or c.network
    return {"ID": c.id if no_trunc else c.short_id, "Image": c.image, "Command": f'"{cmd}"',
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(c.created)),
            "RunningFor": f"{ago(now - c.created)} ago", "Status": status_text(c, now), "Ports": ports_text(c),
            "Names": c.name, "State": c.state.value, "Networks": net,
            "Mounts": ",".join(v.get("name") or v.get("source", "") for v in c.config.get("volumes") or [])}


def render(spec: str | None, rows: list[dict[str, str]]) -> list[str]:
    """``ps --format`` output: 'table', 'json', 'table TEMPLATE' or a Go template, as docker's."""
    from .formats import listing_lines
    return listing_lines(spec, rows, FIELDS, PS_TABLE, "*formatter.ContainerContext")


@docker_codes
def execute_ps(args) -> int:
    rt = runtime.Runtime(args.root)
    filters = parse_filters(args.filter)
    now = time.time()
    rows = []
    for c in rt.containers.list():
        rt.refresh(c)
        if not (args.all or "status" in filters) and c.state not in (runtime.Status.RUNNING, runtime.Status.PAUSED):
            continue
        if matches(c, filters):
            rows.append(c)
    if args.quiet:
        for c in rows:
            print(c.id if args.no_trunc else c.short_id)
        return 0
    for line in render(args.format, [row(c, now, args.no_trunc) for c in rows]):
        print(line)
    return 0


def add_rm_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill and remove a running container")
    p.add_argument("-v", "--volumes", action="store_true", help="also remove the container's anonymous volumes")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def execute_rm(args) -> int:
    from . import for_each
    rt = runtime.Runtime(args.root)

    def remove(ref):
        c = rt.container(ref).destroy(force=args.force)
        if args.volumes:
            from ..runtime.volumes import remove_anonymous
            remove_anonymous(rt.root, c)
    return for_each(args.containers, remove)


def add_inspect_arguments(p, kind: str | None = None) -> None:
    """``inspect``'s flags; ``container inspect``/``image inspect`` pass their ``kind`` (no --type)."""
    from ..runtime.inspect import KINDS
    p.add_argument("-f", "--format", help="a Go template, e.g. '{{.State.Status}}' or '{{json .Config}}'")
    if kind is None:
        p.add_argument("--type", choices=KINDS, help="only look for this kind of object")
    else:
        p.set_defaults(type=kind)
    p.add_argument("objects", nargs="+", metavar="NAME|ID")


def execute_inspect(args) -> int:
    """Containers first, then images, networks, volumes, as ``docker inspect`` resolves names;
    the documents found are printed even when another name is not."""
    import sys
    from ..runtime.inspect import find_document
    from .formats import inspect_lines
    rt = runtime.Runtime(args.root)
    out, code = [], 0
    for ref in args.objects:
        try:
            out.append(find_document(rt, ref, args.type))
        except MiniContainerError as err:
            print(f"minicontainer: {err.message if err.op == 'inspect' else err}", file=sys.stderr)
            code = 1
    if out or args.format is None:
        for line in inspect_lines(out, args.format):
            print(line)
    return code


def add_logs_arguments(p) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the container exits")
    p.add_argument("-n", "--tail", default="all", help="number of lines from the end (default all)")
    p.add_argument("-t", "--timestamps", action="store_true", help="show each line's time")
    p.add_argument("--since", help="only lines since a time (RFC 3339) or a duration ago (10s, 5m, 1h)")
    p.add_argument("container")


@docker_codes
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


@docker_codes
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


def add_cp_arguments(p) -> None:
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow a symbolic link in SRC")
    p.add_argument("src", metavar="SRC", help="CONTAINER:PATH or a host path")
    p.add_argument("dst", metavar="DEST", help="CONTAINER:PATH or a host path")


@docker_codes
def execute_cp(args) -> int:
    import sys
    from ..runtime.copy import copy
    report = copy(runtime.Runtime(args.root), args.src, args.dst, follow_link=args.follow_link)
    for path in report["skipped"]:
        print(f"minicontainer: cp: skipped special file {path}", file=sys.stderr)
    print(f"Successfully copied {report['bytes']} bytes ({report['files']} entries) to {args.dst}", file=sys.stderr)
    return 0


def _print_report(report: dict[str, list[str]]) -> None:
    for kind, items in report.items():
        if items and kind.startswith("left alone"):
            print(f"{kind[0].upper()}{kind[1:]}: {len(items)}")
        elif items:
            print(f"{kind[0].upper()}{kind[1:]}:")
            for item in items:
                print(f"  {item}")
    if not any(items for kind, items in report.items() if not kind.startswith("left alone")):
        print("Nothing to remove")


def _confirm(force: bool, what: str) -> bool:
    import sys
    if force:
        return True
    if not sys.stdin.isatty():
        raise UsageError("refusing to prune without -f when stdin is not a terminal", op="prune")
    answer = input(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def add_container_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    prune = sub.add_parser("prune", help="remove every stopped container and sweep their leftovers")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    inspect = sub.add_parser("inspect", help="show containers as JSON, or through a Go template (-f)")
    add_inspect_arguments(inspect, "container")


def execute_container(args) -> int:
    if args.action == "inspect":
        return execute_inspect(args)
    return _container_prune(args)


@docker_codes
def _container_prune(args) -> int:
    from ..runtime.prune import prune
    if not _confirm(args.force, "all stopped containers"):
        return 0
    _print_report(prune(runtime.Runtime(args.root), system=False))
    return 0


def add_system_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    prune = sub.add_parser("prune", help="stopped containers, crash leftovers (cgroups, state dirs, monitors, "
                                         "network, mounts)")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    prune.add_argument("--volumes", action="store_true", help="also remove unused anonymous volumes")


@docker_codes
def execute_system(args) -> int:
    from ..runtime.prune import prune
    if not _confirm(args.force, "all stopped containers and whatever crashed containers left behind"):
        return 0
    _print_report(prune(runtime.Runtime(args.root), system=True, volumes=args.volumes))
    return 0

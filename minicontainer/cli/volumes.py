"""``minicontainer volume create|ls|inspect|rm|prune``: named volumes, thin over runtime.volumes."""

from __future__ import annotations

import sys

from ..errors import MiniContainerError, NotFoundError

#: ``volume ls --format`` fields (docker's VolumeContext) and their column titles
FIELDS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
          "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT"}
TABLE = "table {{.Driver}}\t{{.Name}}"
FILTERS = ("dangling", "driver", "label", "name")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a volume (a random name when none is given)")
    create.add_argument("name", nargs="?")
    ls = sub.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    ls.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                    help="dangling=true|false, name=, driver=local, label=KEY[=VALUE]")
    ls.add_argument("--format", help="'table', 'json', or a Go template such as '{{.Name}}\\t{{.Mountpoint}}'")
    inspect = sub.add_parser("inspect", help="show volumes as JSON")
    inspect.add_argument("-f", "--format", help="a Go template, e.g. '{{.Mountpoint}}'")
    inspect.add_argument("names", nargs="+", metavar="VOLUME")
    rm = sub.add_parser("rm", help="remove volumes (refused while a container uses one)")
    rm.add_argument("-f", "--force", action="store_true", help="do not complain about missing volumes")
    rm.add_argument("names", nargs="+", metavar="VOLUME")
    prune = sub.add_parser("prune", help="remove unused anonymous volumes (-a: every unused volume)")
    prune.add_argument("-a", "--all", action="store_true")


def execute(args) -> int:
    """Errors exit 1, as the docker CLI's do for every daemon-side refusal."""
    from .containers import docker_codes
    return docker_codes(_execute)(args)


def _execute(args) -> int:
    from ..paths import state_root
    from ..runtime.volumes import VolumeStore
    store = VolumeStore(state_root(args.root))
    if args.action == "create":
        with store.lock():
            vol, _ = store.create(args.name)
        print(vol.name)
        return 0
    if args.action == "ls":
        from .. import filters
        from .formats import listing_lines
        vols = store.select(filters.parse(args.filter, FILTERS, "volume ls"))
        if args.quiet:
            for vol in vols:
                print(vol.name)
            return 0
        rows = []
        for vol in vols:
            doc = vol.to_json()
            rows.append({**{k: doc[k] for k in ("Name", "Driver", "Scope", "Mountpoint", "CreatedAt")},
                         "Labels": ",".join(f"{k}={v}" for k, v in doc["Labels"].items()),
                         "Links": "N/A", "Size": "N/A"})
        for line in listing_lines(args.format, rows, FIELDS, TABLE, "*formatter.volumeContext"):
            print(line)
        return 0
    if args.action == "prune":
        for name in store.prune(all_unused=args.all):
            print(name)
        return 0
    code, out = 0, []
    for name in args.names:
        try:
            if args.action == "inspect":
                out.append(store.get(name).to_json(store.users(name)))
            else:
                store.remove(name)
                print(name)
        except NotFoundError as err:
            if not (args.action == "rm" and args.force):
                print(f"minicontainer: {err}", file=sys.stderr)
                code = 1
        except MiniContainerError as err:
            print(f"minicontainer: {err}", file=sys.stderr)
            code = 1
    if args.action == "inspect" and (out or not args.format):
        from .formats import inspect_lines
        print("\n".join(inspect_lines(out, args.format)))
    return code

"""``minicontainer volume create|ls|inspect|rm|prune``: named volumes, thin over runtime.volumes."""

from __future__ import annotations

import sys

from ..errors import MiniContainerError, NotFoundError


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a volume (a random name when none is given)")
    create.add_argument("name", nargs="?")
    ls = sub.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    inspect = sub.add_parser("inspect", help="show volumes as JSON")
    inspect.add_argument("-f", "--format", help="a Go template, e.g. '{{.Mountpoint}}'")
    inspect.add_argument("names", nargs="+", metavar="VOLUME")
    rm = sub.add_parser("rm", help="remove volumes (refused while a container uses one)")
    rm.add_argument("-f", "--force", action="store_true", help="do not complain about missing volumes")
    rm.add_argument("names", nargs="+", metavar="VOLUME")
    prune = sub.add_parser("prune", help="remove unused anonymous volumes (-a: every unused volume)")
    prune.add_argument("-a", "--all", action="store_true")


def execute(args) -> int:
    from ..paths import state_root
    from ..runtime.volumes import VolumeStore
    store = VolumeStore(state_root(args.root))
    if args.action == "create":
        with store.lock():
            vol, _ = store.create(args.name)
        print(vol.name)
        return 0
    if args.action == "ls":
        vols = store.ls()
        if args.quiet:
            for vol in vols:
                print(vol.name)
            return 0
        print("DRIVER    VOLUME NAME")
        for vol in vols:
            print(f"local     {vol.name}")
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

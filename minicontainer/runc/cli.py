"""``minicontainer-runc``: runc's command line over minicontainer's library.

Engines call their runtime as a program with runc's arguments: podman's conmon runs
``create --bundle B --pid-file P ID``, ``start ID``, ``state ID``, ``kill ID 15``,
``delete --force ID``; containerd's shim adds ``--root R --log B/log.json --log-format
json`` and reads an error back from that log. So this module parses exactly that, calls
:class:`.container.Store` and prints what runc prints. On error: one line on stderr (and
in ``--log``), exit status 1, as runc.
"""

from __future__ import annotations

import argparse
import json
import sys as _sys
import time

from ..errors import MiniContainerError

VERSION = "1.1.0"   # the runc command line this follows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minicontainer-runc", description="run OCI bundles with minicontainer")
    p.add_argument("--root", default=None, help="state directory (default /run/minicontainer-runc)")
    p.add_argument("--log", default=None, help="append errors to this file")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--rootless", default="auto")
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="cmd")
    for name in ("create", "run"):
        c = sub.add_parser(name)
        c.add_argument("--bundle", "-b", default=".")
        c.add_argument("--pid-file", default=None)
        c.add_argument("--console-socket", default=None)
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        c.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            c.add_argument("--detach", "-d", action="store_true")
        c.add_argument("id")
    e = sub.add_parser("exec")
    e.add_argument("--process", "-p", default=None)
    e.add_argument("--detach", "-d", action="store_true")
    e.add_argument("--pid-file", default=None)
    e.add_argument("--tty", "-t", action="store_true")
    e.add_argument("--console-socket", default=None)
    e.add_argument("--cwd", default=None)
    e.add_argument("--env", "-e", action="append", default=[])
    e.add_argument("--user", "-u", default=None)
    e.add_argument("--no-new-privs", action="store_true")
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("id")
    e.add_argument("command", nargs=argparse.REMAINDER)
    for name in ("start", "state", "pause", "resume"):
        sub.add_parser(name).add_argument("id")
    k = sub.add_parser("kill")
    k.add_argument("--all", "-a", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = sub.add_parser("delete")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    u = sub.add_parser("update")
    u.add_argument("--resources", "-r", required=True, help="a linux.resources JSON file, or - for stdin")
    u.add_argument("id")
    ps = sub.add_parser("ps")
    ps.add_argument("--format", "-f", default="table", choices=("table", "json"))
    ps.add_argument("id")
    ls = sub.add_parser("list")
    ls.add_argument("--format", "-f", default="table", choices=("table", "json"))
    ls.add_argument("--quiet", "-q", action="store_true")
    s = sub.add_parser("spec")
    s.add_argument("--bundle", "-b", default=".")
    s.add_argument("--rootless", action="store_true")
    sub.add_parser("features")
    return p


def _log(args, message: str) -> None:
    if not getattr(args, "log", None):
        return
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = (json.dumps({"level": "error", "msg": message, "time": stamp}) if args.log_format == "json"
            else f'time="{stamp}" level=error msg="{message}"')
    try:
        with open(args.log, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def main(argv=None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return 1 if exit_.code else 0
    if args.version:
        from ..oci import OCI_VERSION
        print(f"minicontainer-runc version {VERSION}\nspec: {OCI_VERSION}")
        return 0
    try:
        if args.systemd_cgroup:
            raise MiniContainerError("--systemd-cgroup is not supported: minicontainer manages cgroupfs "
                                     "directly (configure the engine with cgroup_manager = cgroupfs)",
                                     op="runc")
        if args.cmd is None:
            parser.print_usage(_sys.stderr)
            return 1
        return _run(args) or 0
    except MiniContainerError as err:
        text = str(err)
        print(f"minicontainer-runc: {text}", file=_sys.stderr)
        _log(args, text)
        return 1


def _run(args) -> int:
    from . import commands
    from ..runtime.processes import parse_signal
    from .container import Store
    store = Store(args.root)
    if args.cmd == "create":
        store.create(args.id, args.bundle, pid_file=args.pid_file, console_socket=args.console_socket)
    elif args.cmd == "run":
        return commands.run(store, args)
    elif args.cmd == "exec":
        return commands.exec_(store, args)
    elif args.cmd == "start":
        store.container(args.id).start()
    elif args.cmd == "state":
        print(json.dumps(store.state(args.id), indent=2))
    elif args.cmd == "kill":
        store.container(args.id).signal(parse_signal(args.signal), all_processes=args.all)
    elif args.cmd == "delete":
        store.container(args.id).destroy(force=args.force)
    elif args.cmd in ("pause", "resume"):
        c = store.container(args.id)
        if args.cmd == "pause":
            c.pause()
        else:
            c.resume()
    elif args.cmd == "update":
        store.container(args.id).update(commands.read_json_arg(args.resources))
    elif args.cmd == "ps":
        commands.ps(store, args)
    elif args.cmd == "list":
        commands.list_(store, args)
    elif args.cmd == "spec":
        commands.spec(args)
    elif args.cmd == "features":
        print(json.dumps(commands.features(), indent=2))
    return 0


if __name__ == "__main__":   # pragma: no cover
    _sys.exit(main())


__all__ = ["main", "VERSION"]

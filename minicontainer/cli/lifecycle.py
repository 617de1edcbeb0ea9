"""Lifecycle commands: create, start, stop, kill, wait, pause, unpause, restart, rename, exec."""

from __future__ import annotations

import sys

from ..errors import MiniContainerError
from . import for_each


def _runtime(args):
    from ..runtime import Runtime
    return Runtime(args.root)


def add_create_arguments(p) -> None:
    from .run import add_arguments
    add_arguments(p)


def execute_create(args) -> int:
    from .run import options_from
    c = _runtime(args).create(options_from(args))
    print(c.id)
    return 0


def add_start_arguments(p) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="attach the output and wait for the exit")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def execute_start(args) -> int:
    rt = _runtime(args)
    if args.attach:
        if len(args.containers) != 1:
            raise MiniContainerError("you cannot start and attach multiple containers at once", op="start")
        return rt.container(args.containers[0]).start(attach=True).exit_code
    return for_each(args.containers, lambda ref: rt.container(ref).start())


def add_stop_arguments(p) -> None:
    p.add_argument("-t", "--time", type=float, default=10.0, help="seconds to wait before SIGKILL (default 10)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def execute_stop(args) -> int:
    rt = _runtime(args)
    return for_each(args.containers, lambda ref: rt.container(ref).stop(args.time))


add_restart_arguments = add_stop_arguments


def execute_restart(args) -> int:
    rt = _runtime(args)
    return for_each(args.containers, lambda ref: rt.container(ref).restart(args.time))


def add_kill_arguments(p) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="signal to send (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def execute_kill(args) -> int:
    from ..runtime.processes import parse_signal
    rt = _runtime(args)
    parse_signal(args.signal)  # a bad signal is an error before anything is sent
    return for_each(args.containers, lambda ref: rt.container(ref).signal(args.signal))


def add_containers_arguments(p) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


add_wait_arguments = add_pause_arguments = add_unpause_arguments = add_containers_arguments


def execute_wait(args) -> int:
    rt = _runtime(args)
    code = 0
    for ref in args.containers:
        try:
            print(rt.container(ref).wait())
        except MiniContainerError as err:
            print(f"minicontainer: {err}", file=sys.stderr)
            code = 1
    return code


def execute_pause(args) -> int:
    rt = _runtime(args)
    return for_each(args.containers, lambda ref: rt.container(ref).pause())


def execute_unpause(args) -> int:
    rt = _runtime(args)
    return for_each(args.containers, lambda ref: rt.container(ref).resume())


def add_rename_arguments(p) -> None:
    p.add_argument("container")
    p.add_argument("new_name")


def execute_rename(args) -> int:
    _runtime(args).container(args.container).rename(args.new_name)
    return 0


def add_exec_arguments(p) -> None:
    import argparse
    p.add_argument("-i", "--interactive", action="store_true", help="keep standard input open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="name, uid, or uid:gid as the image knows them")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)


def execute_exec(args) -> int:
    if not args.command:
        raise MiniContainerError("exec needs a command", op="exec")
    from ..errors import NotFoundError, StateError, UsageError
    try:
        return _runtime(args).container(args.container).exec(
            args.command, env=args.env, workdir=args.workdir, user=args.user, tty=args.tty,
            interactive=args.interactive, detach=args.detach)
    except (NotFoundError, StateError, UsageError) as err:  # as docker: 1 before the command ran
        print(f"minicontainer: {err}", file=sys.stderr)
        return 1

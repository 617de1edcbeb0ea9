"""``minicontainer run``: create a container from an image, run a command in it, wait."""

from __future__ import annotations

import argparse
import sys

from ..errors import MiniContainerError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the container ID")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE",
                   help="set an environment variable (-e KEY alone copies it from here)")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("--hostname", "-H", help="the container's hostname (default: its short ID)")
    p.add_argument("-i", "--interactive", action="store_true", help="keep standard input open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--init", action="store_true", help="run a minimal init as PID 1 that reaps and forwards signals")
    p.add_argument("--network", "--net", default="bridge", metavar="MODE",
                   help="bridge (default), none (loopback only), host (share the host's), or a network's name")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="[HOSTIP:]HOSTPORT:PORT[/PROTO]",
                   help="publish a container port on the host")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every exposed port to a free host port")
    p.add_argument("--explain", action="store_true", help="print every kernel step taken, and why")
    p.add_argument("--dry-run", action="store_true", help="with --explain: print the plan without running it")
    p.add_argument("image", help="image name[:tag] or ID")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments (default: the image's)")


def options_from(args):
    """RunOptions from the parsed flags (shared by ``run`` and ``create``)."""
    from ..runtime import RunOptions
    return RunOptions(image=args.image, command=args.command, name=args.name, env=args.env,
                      workdir=args.workdir, hostname=args.hostname, interactive=args.interactive,
                      tty=args.tty, rm=args.rm, init=args.init, network=args.network,
                      detach=getattr(args, "detach", False), publish=args.publish, publish_all=args.publish_all,
                      explain=getattr(args, "explain", False))


def execute(args) -> int:
    from ..runtime import Runtime

    opts = options_from(args)
    if args.dry_run and not args.explain:
        raise MiniContainerError("--dry-run only goes with --explain", op="run")
    if args.dry_run:
        from ..kernel import RecordingSyscalls
        rt = Runtime(args.root, RecordingSyscalls())
        from ..runtime.explain import DRY_RUN_ID, aliases_for, format_steps
        print(format_steps(rt.explain_plan(opts), aliases_for(rt, DRY_RUN_ID)))
        return 0
    rt = Runtime(args.root)
    try:
        result = rt.run(opts)
    except MiniContainerError as err:
        if args.explain and getattr(err, "steps", None):
            from ..runtime.explain import aliases_for, format_steps
            print(format_steps(err.steps, aliases_for(rt, getattr(err, "container_id", None))), file=sys.stderr)
        raise
    if args.explain:
        from ..runtime.explain import aliases_for, format_steps
        sys.stdout.flush()
        print(format_steps(result.steps, aliases_for(rt, result.container.id)), file=sys.stderr)
    if args.detach:
        print(result.container.id)
    return result.exit_code

"""``minicontainer run``: create a container from an image, run a command in it, wait."""

from __future__ import annotations

import argparse
import sys

from ..errors import MiniContainerError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .flags import add_run_arguments
    add_run_arguments(p)


def options_from(args):
    """RunOptions from the parsed flags (shared by ``run`` and ``create``)."""
    from ..cgroups.limits import limits_from_args
    from ..runtime import RunOptions
    limits = limits_from_args(args)  # bad limits: one clear line, before anything is created
    return RunOptions(image=args.image, command=args.command, name=args.name, env=args.env,
                      limits=None if limits.is_empty() else limits,
                      workdir=args.workdir, hostname=args.hostname, interactive=args.interactive,
                      tty=args.tty, rm=args.rm, init=args.init, network=args.network or _default_network(),
                      detach=getattr(args, "detach", False), publish=args.publish, publish_all=args.publish_all,
                      explain=getattr(args, "explain", False), volumes=list(getattr(args, "volume", [])),
                      tmpfs=list(getattr(args, "tmpfs", [])), cap_add=args.cap_add, cap_drop=args.cap_drop,
                      privileged=args.privileged, security_opt=args.security_opt, read_only=args.read_only,
                      user=args.user, userns=args.userns)


def _default_network() -> str:
    from ..security.rootless import default_network
    return default_network()


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

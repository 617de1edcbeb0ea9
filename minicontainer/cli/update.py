"""``minicontainer update [LIMITS] CONTAINER...``: change resource limits, live (see runtime/update.py)."""

from __future__ import annotations

import sys

from ..errors import MiniContainerError


def add_arguments(p) -> None:
    from .flags import add_limit_arguments
    add_limit_arguments(p)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def limits_from(args):
    """The limits named on the command line. ``--memory-swap`` may come alone here: the
    container's memory limit is already known, and the merged pair is checked later."""
    from dataclasses import replace

    from ..cgroups.limits import build_limits, parse_memory_swap
    limits = build_limits(memory=args.memory, cpus=args.cpus, cpu_shares=args.cpu_shares,
                          pids_limit=args.pids_limit, cpuset_cpus=args.cpuset_cpus)
    if args.memory_swap is not None:
        limits = replace(limits, memory_swap=parse_memory_swap(args.memory_swap))
    return limits


def execute(args) -> int:
    from ..runtime import Runtime

    limits = limits_from(args)   # bad input: one line, exit 125, nothing touched
    if limits.is_empty():
        raise MiniContainerError("you must provide one or more flags when using this command", op="update")
    rt = Runtime(args.root)
    code = 0
    for ref in args.containers:
        try:
            rt.container(ref).update(limits)
            print(ref)
        except MiniContainerError as err:
            print(f"minicontainer: {err}", file=sys.stderr)
            code = 1
    return code

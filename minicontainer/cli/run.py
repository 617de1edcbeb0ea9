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
    p.add_argument("--network", "--net", default=None, metavar="MODE",
                   help="bridge (root's default), none (loopback only; the rootless default), host (share the "
                        "host's), or a network's name")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="[HOSTIP:]HOSTPORT:PORT[/PROTO]",
                   help="publish a container port on the host")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every exposed port to a free host port")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="HOSTDIR:CTRDIR[:ro]",
                   help="bind a host path, or mount a named (NAME:CTRDIR) or anonymous (CTRDIR) volume")
    p.add_argument("--tmpfs", action="append", default=[], metavar="CTRDIR[:OPTIONS]",
                   help="mount a tmpfs (options: size=64m,mode=1777,ro,exec,...)")
    from ..cgroups.limits import add_limit_arguments
    add_limit_arguments(p)
    sec = p.add_argument_group("security")
    sec.add_argument("--cap-add", action="append", default=[], metavar="CAP",
                     help="add a capability to the default 14 (ALL for every one)")
    sec.add_argument("--cap-drop", action="append", default=[], metavar="CAP",
                     help="drop a capability (ALL for every one)")
    sec.add_argument("--privileged", action="store_true",
                     help="DANGEROUS: every capability, no seccomp, no masked paths, writable /proc and /sys; "
                          "the container's root is the host's root")
    sec.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                     help="no-new-privileges[=true|false], seccomp=unconfined or seccomp=PROFILE.json "
                          "(Docker's format)")
    sec.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only "
                     "(with tmpfs /tmp and /run)")
    sec.add_argument("-u", "--user", metavar="NAME|UID[:GROUP|GID]", help="run as this user of the image")
    sec.add_argument("--userns", default="host", choices=("host", "private"),
                     help="user namespace: host (root's default) or private (rootless mode always uses one)")
    p.add_argument("--explain", action="store_true", help="print every kernel step taken, and why")
    p.add_argument("--dry-run", action="store_true", help="with --explain: print the plan without running it")
    p.add_argument("image", help="image name[:tag] or ID")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments (default: the image's)")


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

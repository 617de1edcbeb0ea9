"""``minicontainer build``: thin - parse the flags, call minicontainer.build, print."""

from __future__ import annotations

from ..errors import UsageError


def add_arguments(p):
    p.add_argument("context", metavar="CONTEXT", help="the build context directory (COPY/ADD read from it)")
    p.add_argument("-t", "--tag", action="append", default=[], metavar="NAME[:TAG]",
                   help="name the result (may be given several times)")
    p.add_argument("-f", "--file", metavar="FILE", help="the Dockerfile (default: CONTEXT/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="set a build-time ARG")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached steps")
    p.add_argument("--target", metavar="STAGE", help="build up to this stage and stop")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="set a label on the result")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.add_argument("--network", metavar="NETWORK",
                   help="the network of RUN steps: bridge (default; none when rootless), none, host or a "
                        "network's name")


def execute(args) -> int:
    import io
    import os
    import sys
    from ..build.builder import Builder, BuildOptions
    from ..paths import state_root
    build_args = {}
    for item in args.build_arg:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r} (want KEY=VALUE)", op="build")
        if not sep:                  # --build-arg K: take K from the caller's environment, as Docker does
            if key not in os.environ:
                continue
            value = os.environ[key]
        build_args[key] = value
    labels = dict(item.partition("=")[::2] for item in args.label)
    out = io.StringIO() if args.quiet else sys.stdout
    result = Builder(state_root(args.root), out=out).build(BuildOptions(
        context=args.context, dockerfile=args.file, tags=args.tag, build_args=build_args,
        no_cache=args.no_cache, target=args.target, labels=labels, network=args.network))
    if args.quiet:
        print(result.image.id)
    return 0

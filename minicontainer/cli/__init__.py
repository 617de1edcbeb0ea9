"""The command line: ``minicontainer COMMAND ...``, thin by design.

Each command lives in its own module with two functions, ``add_arguments(parser)`` and
``execute(args) -> int``; only the module of the command being run is imported, so
``minicontainer run`` starts fast. Errors from the library (a :class:`MiniContainerError`)
are printed as one line on stderr and turned into Docker's exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module, one-line help). Keep the list sorted by topic; add a line per command.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("minicontainer.cli.run", "run a command in a new container"),
    "create": ("minicontainer.cli.lifecycle", "create a container without starting it"),
    "start": ("minicontainer.cli.lifecycle", "start created or stopped containers"),
    "stop": ("minicontainer.cli.lifecycle", "stop containers: their stop signal, then SIGKILL"),
    "restart": ("minicontainer.cli.lifecycle", "stop, then start containers"),
    "kill": ("minicontainer.cli.lifecycle", "send a signal to containers"),
    "wait": ("minicontainer.cli.lifecycle", "wait for containers to exit and print their exit codes"),
    "pause": ("minicontainer.cli.lifecycle", "freeze every process of containers (cgroup freezer)"),
    "unpause": ("minicontainer.cli.lifecycle", "thaw paused containers"),
    "rename": ("minicontainer.cli.lifecycle", "rename a container"),
    "exec": ("minicontainer.cli.lifecycle", "run a command in a running container"),
    "ps": ("minicontainer.cli.containers", "list containers"),
    "logs": ("minicontainer.cli.containers", "show a container's output"),
    "top": ("minicontainer.cli.containers", "list a container's processes"),
    "rm": ("minicontainer.cli.containers", "remove containers"),
    "stats": ("minicontainer.cli.stats", "show containers' CPU, memory and process counts from their cgroups"),
    "update": ("minicontainer.cli.update", "change resource limits of containers, even running ones"),
    "cp": ("minicontainer.cli.containers", "copy files between a container and the host"),
    "container": ("minicontainer.cli.containers", "container prune: remove stopped containers, leftovers; inspect"),
    "system": ("minicontainer.cli.containers", "system prune: stopped containers and every crash leftover"),
    "volume": ("minicontainer.cli.volumes", "manage volumes: create, ls, inspect, rm, prune"),
    "pull": ("minicontainer.cli.registry", "download an image from a registry (only the layers not already here)"),
    "push": ("minicontainer.cli.registry", "upload an image to a registry (only the blobs it lacks)"),
    "login": ("minicontainer.cli.registry", "check and store credentials for a registry (docker's config.json)"),
    "logout": ("minicontainer.cli.registry", "forget a registry's credentials"),
    "registry": ("minicontainer.cli.registry", "the lab registry on 127.0.0.1: start, stop, status, default"),
    "images": ("minicontainer.cli.images", "list images: [REPOSITORY[:TAG]], --filter, --format"),
    "inspect": ("minicontainer.cli.containers", "containers, images, networks, volumes as JSON (-f: a Go template)"),
    "history": ("minicontainer.cli.images", "show the history (one line per layer) of an image"),
    "tag": ("minicontainer.cli.images", "give an image another name"),
    "rmi": ("minicontainer.cli.images", "remove images (refused while a container uses one, unless -f)"),
    "image": ("minicontainer.cli.images", "image prune: remove unused untagged images, layers; ls; inspect"),
    "save": ("minicontainer.cli.images", "write images to an OCI-layout tar (with docker's manifest.json)"),
    "load": ("minicontainer.cli.images", "load images from an OCI-layout or docker-save tar"),
    "import": ("minicontainer.cli.images", "make a one-layer image from a root filesystem tar"),
    "export": ("minicontainer.cli.images", "write a container's whole filesystem as one tar"),
    "diff": ("minicontainer.cli.images", "list a container's changed files (A/C/D)"),
    "commit": ("minicontainer.cli.images", "make a new image from a container's changes"),
    "build": ("minicontainer.cli.build", "build an image from a Dockerfile (cached, one layer per step)"),
    "network": ("minicontainer.cli.network", "manage networks: create, ls, inspect, rm, prune"),
    "port": ("minicontainer.cli.network", "list a container's published ports"),
    "engine": ("minicontainer.cli.engine", "serve the Docker Engine API on a unix socket (docker CLI, docker-py)"),
    "doctor": ("minicontainer.cli.doctor", "show what this host offers and what each chapter needs"),
    "course": ("minicontainer.cli.course", "course check [NN]: which exercises of the course a learner has done here"),
}


def for_each(refs, action) -> int:
    """Apply ``action`` to each reference, printing it on success as Docker does; the
    failures are one line each on stderr, and the exit code is 1 if any failed."""
    from ..errors import MiniContainerError
    code = 0
    for ref in refs:
        try:
            action(ref)
            print(ref)
        except MiniContainerError as err:
            print(f"minicontainer: {err}", file=sys.stderr)
            code = 1
    return code


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: minicontainer [--root DIR] [--log-level debug|info|warn|error] COMMAND [ARGS...]",
             "       minicontainer -H unix:///PATH COMMAND [ARGS...]   (through an engine; or MINICONTAINER_HOST)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "run 'minicontainer COMMAND --help' for a command's options"]
    return "\n".join(lines)


def _hook(module, verb: str, command: str, suffix: str = ""):
    """A module serving several commands names its functions per command
    (``add_ps_arguments``, ``execute_ps``); a module serving one uses ``add_arguments``/``execute``."""
    specific = f"{verb}_{command.replace('-', '_')}{suffix}"
    return getattr(module, specific, None) or getattr(module, f"{verb}{suffix}")


def build_parser(command: str) -> argparse.ArgumentParser:
    module_name, text = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"minicontainer {command}", description=text)
    _hook(module, "add", command, "_arguments")(parser)
    parser.set_defaults(_module=module, _command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import MiniContainerError

    argv = list(sys.argv[1:] if argv is None else argv)
    globals_ = {"--root": None, "--log-level": None, "--host": None}   # the options placed before the command
    while argv and argv[0].split("=", 1)[0] in (*globals_, "-H"):
        opt = argv.pop(0)
        name, _, value = opt.partition("=")
        name = "--host" if name == "-H" else name
        if not value and "=" not in opt:
            if not argv:
                print(f"minicontainer: {name} needs a value", file=sys.stderr)
                return 125
            value = argv.pop(0)
        globals_[name] = value
    root = globals_["--root"]
    host = globals_["--host"] or os.environ.get("MINICONTAINER_HOST")
    if host and argv and argv[0] == "engine":
        if globals_["--host"]:                     # 'minicontainer -H unix:///x engine' listens there
            argv[1:1] = ["--host", host]
    elif host and argv and argv[0] not in ("-h", "--help", "help", "-v", "--version"):
        if root:
            print("minicontainer: --root belongs to the engine, not to a client of it (-H/MINICONTAINER_HOST)",
                  file=sys.stderr)
            return 125
        from .remote import run_remote         # a client: imports no runtime (see remote.py)
        return run_remote(host, argv[0], argv[1:])
    try:
        from .. import log
        log.configure(globals_["--log-level"])     # None: $MINICONTAINER_LOG_LEVEL, or nothing at all
    except MiniContainerError as err:
        print(f"minicontainer: {err}", file=sys.stderr)
        return 125
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 125
    if argv[0] in ("-v", "--version", "version"):
        from .. import __version__
        print(f"minicontainer {__version__}")
        return 0
    command = argv.pop(0)
    if command not in COMMANDS:
        print(f"minicontainer: unknown command {command!r} (see 'minicontainer --help')", file=sys.stderr)
        return 125
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the message
        return 0 if exc.code == 0 else 125
    args.root = root
    module = args._module
    try:
        return int(_hook(module, "execute", command)(args) or 0)
    except MiniContainerError as err:
        print(f"minicontainer: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

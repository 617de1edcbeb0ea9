"""The flags of ``run``/``create`` and the resource-limit flags, in one place.

Both the daemonless CLI (:mod:`minicontainer.cli.run`) and the engine client
(:mod:`minicontainer.cli.remote`) read the same flags, so this module imports argparse
and nothing of the runtime: a client start pays for no more than it uses.
"""

from __future__ import annotations

import argparse


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The Docker-style limit flags, for ``run``, ``create`` and ``update``."""
    group = parser.add_argument_group("resource limits (cgroups)")
    group.add_argument("-m", "--memory", metavar="BYTES", help="memory limit, e.g. 64m or 1g")
    group.add_argument("--memory-swap", metavar="BYTES", help="memory plus swap limit; -1 for unlimited swap")
    group.add_argument("--cpus", metavar="N", help="CPUs' worth of time, e.g. 0.5")
    group.add_argument("-c", "--cpu-shares", metavar="N", help="relative CPU weight (default 1024)")
    group.add_argument("--pids-limit", metavar="N", help="maximum number of processes; -1 for no limit")
    group.add_argument("--cpuset-cpus", metavar="LIST", help="CPUs to run on, e.g. 0-1 or 0,2")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``run`` and ``create``, docker-run(1)'s spelling."""
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

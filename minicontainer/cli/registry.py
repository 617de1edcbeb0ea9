"""Registry commands: pull, push, login, logout, and ``registry start|stop|status|default``
for the lab registry. Thin: parse, call minicontainer.registry, print Docker's lines.

Exit codes are the docker CLI's: 0, or 1 when the pull/push/login fails (docker reports a
daemon's error with 1; 125 is for ``docker run`` failing before the container starts).
"""

from __future__ import annotations

import sys

from ..errors import MiniContainerError, UsageError
from ..paths import project_build_dir, state_root

BUSYBOX_NOTE = ("with no registry configured, plain 'busybox' is made from the host's busybox-static "
                "(this lab has no Docker Hub); every other name, and busybox too once a default registry "
                "is set ('minicontainer registry default HOST:PORT' or $MINICONTAINER_REGISTRY), "
                "comes from a registry, as with docker pull")


def _settings(args):
    from ..registry.settings import Settings
    return Settings.load(state_root(args.root), insecure=getattr(args, "insecure_registry", None) or ())


def _store(args):
    from ..images.store import ImageStore
    return ImageStore(state_root(args.root))


def _failed(err: MiniContainerError) -> int:
    print(f"minicontainer: {err}", file=sys.stderr)
    return 1


class Printer:
    """Docker's progress messages as lines; on a terminal, a bar while a layer moves."""

    def __init__(self, stream=None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar = None
        self._bar_id = None

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        ident, status, detail = event.get("id"), event.get("status", ""), event.get("progressDetail")
        if detail:
            if self.tty and detail.get("total"):
                self._progress(ident, status, detail)
            return
        self._close_bar()
        print(f"{ident}: {status}" if ident else status, file=self.stream, flush=True)

    def _progress(self, ident, status, detail) -> None:
        from ..images.progress import Progress
        if self._bar_id != (ident, status):
            self._close_bar()
            self._bar, self._bar_id = Progress(detail["total"], f"{ident}: {status:<11}", self.stream), (ident, status)
        self._bar(detail["current"] - self._bar.done)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = self._bar_id = None


# -- pull / push ------------------------------------------------------------------------
def _insecure(p):
    p.add_argument("--insecure-registry", action="append", metavar="HOST[:PORT]",
                   help="allow plain HTTP to this registry (loopback registries always are)")


def add_pull_arguments(p):
    p.description = "download an image from a registry, only the layers not already here; " + BUSYBOX_NOTE
    p.add_argument("image", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    _insecure(p)


def execute_pull(args) -> int:
    from ..images.reference import DOCKER_HUB
    try:
        settings = _settings(args)
        ref = settings.reference(args.image)
        if settings.default == DOCKER_HUB and args.image in ("busybox", "busybox:latest"):
            image = _store(args).ensure_busybox()
            print(f"busybox:latest: {image.id} (from the host's busybox-static: no registry configured)")
            return 0
        if not args.quiet and not ref.digest and ":" not in args.image.rsplit("/", 1)[-1]:
            print(f"Using default tag: {ref.tag}")
        from ..registry.pull import pull
        pull(_store(args), args.image, settings, report=Printer(quiet=args.quiet))
    except MiniContainerError as err:
        return _failed(err)
    print(str(ref))
    return 0


def add_push_arguments(p):
    p.add_argument("image", metavar="NAME[:TAG]")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    _insecure(p)


def execute_push(args) -> int:
    from ..registry.push import push
    try:
        settings = _settings(args)
        digest, size = push(_store(args), args.image, settings, report=Printer(quiet=args.quiet))
    except MiniContainerError as err:
        return _failed(err)
    if not args.quiet:
        print(f"{settings.reference(args.image).tag}: digest: {digest} size: {size}")
    return 0


# -- login / logout -----------------------------------------------------------------------
def add_login_arguments(p):
    p.add_argument("server", nargs="?", metavar="SERVER", help="registry host[:port] (default: the default registry)")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password", help="insecure: visible to other users; prefer --password-stdin")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _insecure(p)


def execute_login(args) -> int:
    from ..registry.login import login
    try:
        settings = _settings(args)
        server = args.server or settings.default
        user = args.username or input("Username: ")
        if args.password_stdin:
            if args.password:
                raise UsageError("--password and --password-stdin are mutually exclusive", op="login")
            password = sys.stdin.readline().rstrip("\n")
        else:
            import getpass
            password = args.password if args.password is not None else getpass.getpass("Password: ")
        path = login(settings, server, user, password)
    except MiniContainerError as err:
        return _failed(err)
    if args.password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    print(f"credentials stored in {path} (mode 0600)", file=sys.stderr)
    print("Login Succeeded")
    return 0


def add_logout_arguments(p):
    p.add_argument("server", nargs="?", metavar="SERVER")


def execute_logout(args) -> int:
    from ..registry.credentials import Credentials
    try:
        settings = _settings(args)
        server = args.server or settings.default
        if Credentials(settings.config_dir).erase(server):
            print(f"Removing login credentials for {server}")
        else:
            print(f"Not logged in to {server}")
    except MiniContainerError as err:
        return _failed(err)
    return 0


# -- the lab registry ---------------------------------------------------------------------
def add_arguments(p):
    import argparse
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--dir", help="config, storage, log and pid file (default: build/registry in the checkout)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = sub.add_parser("start", parents=[where], help="start the lab registry on 127.0.0.1 (never a system service)")
    start.add_argument("--port", type=int, default=5000)
    start.add_argument("--user", action="append", metavar="NAME:PASSWORD",
                       help="require Basic auth (htpasswd, bcrypt) for this user; repeatable")
    start.add_argument("--default", action="store_true",
                       help="make it the default registry of this state root ('busybox' then comes from it)")
    for name, text in (("stop", "stop it (SIGTERM, then SIGKILL)"), ("status", "is it running, where")):
        sub.add_parser(name, parents=[where], help=text)
    default = sub.add_parser("default", help="show, set or unset the default registry of this state root")
    default.add_argument("host", nargs="?", metavar="HOST[:PORT]")
    default.add_argument("--unset", action="store_true", help="back to docker.io")


def execute(args) -> int:
    from ..registry import settings as S
    from ..registry.server import LabRegistry
    reg = LabRegistry(getattr(args, "dir", None) or project_build_dir() / "registry")
    root = state_root(args.root)
    if args.action == "start":
        users = {}
        for spec in args.user or []:
            name, sep, password = spec.partition(":")
            if not sep:
                raise UsageError(f"--user wants NAME:PASSWORD, got {spec!r}", op="registry start")
            users[name] = password
        address = reg.start(args.port, users=users or None)
        if args.default:
            S.set_default(root, address)
        print(f"registry running at {address} (pid {reg.pid()}, storage {reg.storage}, log {reg.log})")
    elif args.action == "stop":
        print("registry stopped" if reg.stop() else "registry was not running")
    elif args.action == "status":
        pid = reg.pid()
        print(f"running at {reg.address()} (pid {pid}, storage {reg.storage})" if pid else "not running")
        return 0 if pid else 1
    else:
        if args.unset:
            S.set_default(root, None)
        elif args.host:
            S.set_default(root, args.host)
        print(S.Settings.load(root).default)
    return 0

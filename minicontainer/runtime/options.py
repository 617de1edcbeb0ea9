"""What a user asks for with ``run``/``create``, checked before anything is created."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..errors import UsageError
from . import names

ENV_NAME = re.compile(r"^[^=\s]+$")
HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")


@dataclass
class RunOptions:
    """What ``minicontainer run``/``create`` were asked for: one field per flag, checked by validate()."""

    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    hostname: str | None = None
    interactive: bool = False
    stdin_once: bool = False          # the API's StdinOnce: the first attached client's EOF closes stdin
    tty: bool = False
    rm: bool = False
    init: bool = False
    detach: bool = False
    network: str = "bridge"
    publish: list[str] = field(default_factory=list)   # -p [HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTO]
    publish_all: bool = False                          # -P: every port the image EXPOSEs
    limits: object | None = None      # a cgroups limits object, when any limit was asked for
    volumes: list[str] = field(default_factory=list)   # -v HOSTDIR:CTRDIR[:ro] | NAME:CTRDIR | CTRDIR
    tmpfs: list[str] = field(default_factory=list)     # --tmpfs CTRDIR[:OPTIONS]
    explain: bool = False             # collect every kernel step (RunResult.steps) for --explain
    # security (minicontainer.security): --cap-add/--cap-drop/--privileged/--security-opt/--read-only/-u/--userns
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    read_only: bool = False
    user: str | None = None
    userns: str = "host"
    entrypoint: list[str] | None = None   # --entrypoint / the API's Entrypoint: replaces the image's (and its CMD)
    labels: dict[str, str] = field(default_factory=dict)   # -l KEY=VALUE / the API's Labels

    def security_config(self) -> dict:
        """The checked security settings a container record keeps (``config["security"]``)."""
        from ..security import config_for
        return config_for(self.cap_add, self.cap_drop, self.privileged, self.security_opt, self.read_only,
                          self.user, self.userns)

    def validate(self) -> None:
        if not self.image:
            raise UsageError("an image is required", op="run")
        if self.name is not None and not names.valid_name(self.name):
            raise UsageError(f"invalid container name {self.name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                             op="run")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise UsageError(f"the working directory {self.workdir!r} is invalid: it needs to be an absolute path",
                             op="run")
        if self.hostname is not None and (len(self.hostname) > 64 or not HOSTNAME.match(self.hostname)):
            raise UsageError(f"invalid hostname {self.hostname!r}", op="run")
        parse_env(self.env)
        self.security_config()
        self.volume_records()

    def volume_records(self) -> list[dict]:
        """The -v/--tmpfs flags as volume records (UsageError on bad input, nothing created)."""
        from .volumes import parse_all
        return parse_all(list(self.volumes), list(self.tmpfs))


def parse_env(items: list[str], host_env: dict[str, str] | None = None) -> dict[str, str]:
    """``-e K=V`` values, as Docker reads them: ``-e K`` alone copies K from the caller's
    environment (and is dropped when unset); an empty or ``=V`` name is an error."""
    host_env = os.environ if host_env is None else host_env
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or not ENV_NAME.match(key):
            raise UsageError(f"invalid environment variable: {item!r} (expected KEY=VALUE)", op="run")
        if sep:
            out[key] = value
        elif key in host_env:
            out[key] = host_env[key]
    return out


def image_env(config: dict) -> dict[str, str]:
    out = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


def command_for(config: dict, command: list[str], entrypoint: list[str] | None = None) -> list[str]:
    """Docker's rule: ENTRYPOINT + (the run command, or the image's CMD); an entrypoint given at
    run time replaces the image's and drops its CMD."""
    if entrypoint is not None:
        return _nonempty(list(entrypoint) + list(command))
    entry = list(config.get("Entrypoint") or [])
    return _nonempty(entry + (list(command) if command else list(config.get("Cmd") or [])))


def _nonempty(argv: list[str]) -> list[str]:
    if not argv:
        raise UsageError("no command specified", op="run")
    return argv

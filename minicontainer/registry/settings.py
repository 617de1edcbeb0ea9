"""Which registry a short name means, and which registries may be spoken to in plain HTTP.

Docker resolves ``busybox`` to Docker Hub (``docker.io/library/busybox``). The lab has its
own registry, so the *default registry* is configurable: ``$MINICONTAINER_REGISTRY``, or
``minicontainer registry default HOST[:PORT]``, which records it in the state root's
``registries.json`` (the counterpart of ``daemon.json``'s registry settings). With the lab
registry as default, ``minicontainer pull busybox`` fetches
``127.0.0.1:5000/library/busybox:latest`` and tags it ``busybox:latest``.

Transport security follows dockerd: HTTPS always, except for a registry on a loopback
address (127.0.0.0/8, ::1, ``localhost``), where plain HTTP is allowed, and for the hosts
named with ``--insecure-registry`` (or ``$MINICONTAINER_INSECURE_REGISTRIES``, comma
separated) - a plain-HTTP registry on another machine lets anyone on the path swap layers.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..images.reference import DOCKER_HUB, Reference, parse
from ..records import read_json, write_json

FILE = "registries.json"
DOCKER_HUB_API = "registry-1.docker.io"     # docker.io's registry API host


def is_loopback(host: str) -> bool:
    """``host[:port]`` names this machine (a registry we may reach in plain HTTP)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class Settings:
    """The default registry, the plain-HTTP exceptions, and where credentials are kept."""

    default: str = DOCKER_HUB
    insecure: list[str] = field(default_factory=list)
    config_dir: Path | None = None        # docker's config dir (None: paths.docker_config_dir())

    @classmethod
    def load(cls, state_root, *, insecure=(), config_dir=None) -> "Settings":
        """Settings from the state root's ``registries.json`` and the environment
        (the environment wins), plus ``insecure`` hosts given on the command line."""
        data = read_json(Path(state_root) / FILE, "unreadable registry settings", UsageError) or {}
        default = os.environ.get("MINICONTAINER_REGISTRY") or data.get("default") or DOCKER_HUB
        env_insecure = [h for h in os.environ.get("MINICONTAINER_INSECURE_REGISTRIES", "").split(",") if h]
        hosts = list(data.get("insecure") or []) + env_insecure + list(insecure)
        check_host(default)
        for h in hosts:
            check_host(h)
        return cls(default=default, insecure=hosts, config_dir=Path(config_dir) if config_dir else None)

    def reference(self, ref: str) -> Reference:
        """Parse ``ref`` with this default registry."""
        return parse(ref, self.default)

    def scheme(self, domain: str) -> str:
        """``https``, or ``http`` for loopback and insecure registries."""
        return "http" if is_loopback(domain) or domain in self.insecure else "https"

    def api_host(self, domain: str) -> str:
        return DOCKER_HUB_API if domain == DOCKER_HUB else domain

    def base_url(self, domain: str) -> str:
        return f"{self.scheme(domain)}://{self.api_host(domain)}"

    def plain_http_allowed(self, host: str) -> bool:
        return is_loopback(host) or host in self.insecure


def check_host(host: str) -> str:
    """A registry host[:port], as a reference's first component would be."""
    try:
        ref = parse(f"{host}/x")
    except UsageError:
        ref = None
    if ref is None or ref.domain != host:
        if host != DOCKER_HUB:
            raise UsageError(f"invalid registry host {host!r} (want host[:port])", op="registry")
    return host


def set_default(state_root, host: str | None) -> None:
    """Record (or with None, forget) the default registry in the state root."""
    path = Path(state_root) / FILE
    data = read_json(path, "unreadable registry settings", UsageError) or {}
    if host is None:
        data.pop("default", None)
    else:
        data["default"] = check_host(host)
    write_json(path, data, "cannot write registry settings", UsageError)

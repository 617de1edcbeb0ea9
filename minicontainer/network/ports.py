"""Port publishing: parsing ``-p``/``-P`` and binding the host side first.

A container's address (say 10.76.0.2) is private to the host: nothing outside the host
routes to it. *Publishing* a port makes a host address and port forward to it, as
``docker run -p 8080:80`` does. We do it the way docker-proxy does, in user space: a
small process per mapping listens on HOSTIP:HOSTPORT and copies bytes to and from
CONTAINER_IP:CONTAINERPORT (see ``proxy.py``). (The kernel alternative is a DNAT rule
in nftables, nft(8), which rewrites destination addresses in the netfilter hooks.)

The syntax accepted, as in docker-run(1)::

    [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]
    HOSTIP::CONTAINERPORT[/proto]        any free host port
    CONTAINERPORT[/proto]                any free host port on all addresses

The listening sockets are bound *before* anything else is created (:func:`bind_all`),
so "port already in use" is found while there is still nothing to undo.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import asdict, dataclass

from ..errors import NetworkError, UsageError

DEFAULT_HOST_IP = "0.0.0.0"   # all addresses, as Docker does; tests always say 127.0.0.1
PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class PortMapping:
    """One published port. ``host_port`` 0 means "any free port" until bound."""

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{self.container_port}/{self.proto} -> {host}:{self.host_port}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PortMapping":
        return cls(**data)


def _port(text: str, what: str, spec: str, *, zero_ok: bool = False) -> int:
    if not text.isdigit():
        raise UsageError(f"invalid {what} {text!r} in {spec!r} (expected a number)", op="publish")
    value = int(text)
    if not (0 if zero_ok else 1) <= value <= 65535:
        raise UsageError(f"{what} {value} out of range in {spec!r} (1-65535)", op="publish")
    return value


def _host_ip(text: str, spec: str) -> str:
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        raise UsageError(f"invalid host address {text!r} in {spec!r}", op="publish") from None


def parse_publish(spec: str) -> PortMapping:
    """Parse one ``-p`` value into a :class:`PortMapping`; :class:`UsageError` if malformed."""
    if not isinstance(spec, str) or not spec or spec != spec.strip():
        raise UsageError(f"invalid port mapping {spec!r}", op="publish")
    body, proto = spec, "tcp"
    if "/" in spec:
        body, proto = spec.rsplit("/", 1)
        if proto not in PROTOCOLS:
            raise UsageError(f"invalid protocol {proto!r} in {spec!r} (tcp or udp)", op="publish")
    # An IPv6 host address is bracketed: [::1]:8080:80
    host_ip = DEFAULT_HOST_IP
    if body.startswith("["):
        end = body.find("]")
        if end < 0 or body[end + 1:end + 2] != ":":
            raise UsageError(f"invalid port mapping {spec!r}", op="publish")
        host_ip, body = _host_ip(body[:end + 1], spec), body[end + 2:]
        parts = [""] + body.split(":") if body.count(":") == 0 else body.split(":")
        if len(parts) != 2:
            raise UsageError(f"invalid port mapping {spec!r}", op="publish")
        host_port, container_port = parts
    else:
        parts = body.split(":")
        if len(parts) == 1:
            host_port, container_port = "", parts[0]
        elif len(parts) == 2:
            host_port, container_port = parts
        elif len(parts) == 3:
            host_ip = _host_ip(parts[0], spec) if parts[0] else DEFAULT_HOST_IP
            host_port, container_port = parts[1], parts[2]
        else:
            raise UsageError(f"invalid port mapping {spec!r} (expected [hostip:]hostport:containerport)",
                             op="publish")
    if not container_port:
        raise UsageError(f"missing container port in {spec!r}", op="publish")
    return PortMapping(host_ip=host_ip,
                       host_port=_port(host_port, "host port", spec) if host_port else 0,
                       container_port=_port(container_port, "container port", spec),
                       proto=proto)


def publish_all(exposed, host_ip: str = DEFAULT_HOST_IP) -> list[PortMapping]:
    """``-P``: every exposed port (``"80/tcp"``, ``"53/udp"``, ``80``) to a free host port.

    ``exposed`` is what an image's config lists under ``ExposedPorts`` (its keys).
    """
    mappings = []
    for item in exposed:
        text = str(item)
        port, _, proto = text.partition("/")
        proto = proto or "tcp"
        if proto not in PROTOCOLS:
            raise UsageError(f"invalid protocol {proto!r} in exposed port {text!r}", op="publish")
        mappings.append(PortMapping(host_ip, 0, _port(port, "exposed port", text), proto))
    return mappings


def check_unique(mappings: list[PortMapping]) -> None:
    """Two mappings may not claim the same host address, port and protocol."""
    seen = set()
    for m in mappings:
        if m.host_port == 0:
            continue
        key = (m.host_ip, m.host_port, m.proto)
        if key in seen:
            raise UsageError(f"host port {m.host_ip}:{m.host_port}/{m.proto} is published twice", op="publish")
        seen.add(key)


def bind(mapping: PortMapping) -> tuple[socket.socket, PortMapping]:
    """Open and bind the host socket of one mapping; returns it and the mapping with its real port."""
    family = socket.AF_INET6 if ":" in mapping.host_ip else socket.AF_INET
    kind = socket.SOCK_STREAM if mapping.proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # SO_REUSEADDR only lets us bind over TIME_WAIT leftovers, not over a live listener
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((mapping.host_ip, mapping.host_port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
    except OSError as err:
        sock.close()
        where = f"{mapping.host_ip}:{mapping.host_port}/{mapping.proto}"
        if err.errno == errno.EADDRINUSE:
            raise NetworkError(f"host port {where} is already in use", op="publish") from err
        if err.errno == errno.EADDRNOTAVAIL:
            raise NetworkError(f"host address {mapping.host_ip} is not an address of this host",
                               op="publish") from err
        raise NetworkError(f"cannot bind {where}: {(err.strerror or str(err)).lower()}", op="publish") from err
    real_port = sock.getsockname()[1]
    bound = PortMapping(mapping.host_ip, real_port, mapping.container_port, mapping.proto)
    return sock, bound


def bind_all(mappings: list[PortMapping]) -> list[tuple[socket.socket, PortMapping]]:
    """Bind every mapping or none: on the first failure the ones already bound are closed."""
    check_unique(mappings)
    bound: list[tuple[socket.socket, PortMapping]] = []
    try:
        for m in mappings:
            bound.append(bind(m))
    except BaseException:
        for sock, _ in bound:
            sock.close()
        raise
    return bound

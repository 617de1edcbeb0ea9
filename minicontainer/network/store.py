"""Networks as data: names, bridges and subnets, kept as JSON files under the state root.

A *network* here is what ``docker network create`` makes with the bridge driver: one
Linux bridge device on the host (a virtual switch, see bridge(8) and the kernel's
Documentation/networking/bridge.rst), one IPv4 subnet, and a gateway address on the
bridge itself. Containers are plugged into it with veth pairs (see ``links.py``).

This module only keeps the records; it makes no kernel call and imports no pyroute2::

    <state_root>/networks/<name>.json       one file per network
    <state_root>/networks/.lock             flock(2) lock for every change (see lock())
    <run_root>/ipam/<bridge>.json           addresses handed out, host-wide (ipam.py)
    <state_root>/networks/endpoints/<id>.json  one per connected container (endpoint.py)

The default network ``bridge`` (device ``mc0``, subnet 10.76.0.0/16, gateway 10.76.0.1)
is written the first time it is used. 10.76.0.0/16 comes from RFC 1918's private
10.0.0.0/8 block, away from podman's 10.88.0.0/16 and Docker's 172.17.0.0/16 (a host running
either keeps its bridge); change it with the constructor's
``default_subnet`` or ``$MINICONTAINER_BRIDGE_SUBNET`` before first use. User networks
get the first free /24 from 10.89.0.0/16 unless a subnet is given, and two networks may
never overlap: the kernel would not know which bridge to route an address to. Subnets
already routed on the host (read from /proc/net/route, see proc(5)) are skipped too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..locks import locked
from ..errors import ConflictError, NetworkError, NotFoundError, UsageError
from .. import paths
from .. import records
from ..records import read_json
from ..paths import PROC_ROOT

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "mc0"
DEFAULT_SUBNET = "10.76.0.0/16"
USER_POOL = "10.89.0.0/16"      # user networks take /24s from here
USER_PREFIX = 24
RESERVED_NAMES = ("none", "host")  # network modes, not networks
IFNAMSIZ = 15                   # a Linux interface name is at most 15 bytes (+ NUL)
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
_IFNAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")


@dataclass
class Network:
    """One bridge network: what ``network inspect`` prints."""

    name: str
    bridge: str
    subnet: str
    gateway: str
    created: float = 0.0
    default: bool = False
    internal: bool = False      # no route out (no NAT), as ``docker network create --internal``

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def id(self) -> str:
        """A 64-hex id, as Docker gives every network: the digest of the name and creation time,
        so a network made again under the same name has a new one."""
        return hashlib.sha256(f"{self.name}\0{self.created!r}".encode()).hexdigest()

    def event(self, state_root, action: str, **attributes) -> None:
        """Record a network event (``docker events --filter type=network``)."""
        from .. import events
        events.record(state_root, "network", action, self.id, {"name": self.name, "type": "bridge", **attributes})

    def to_dict(self) -> dict:
        return asdict(self)


def bridge_name_for(name: str) -> str:
    """A stable bridge device name for a user network: ``mcbr-`` + 8 hex digits of its name."""
    return "mcbr-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """Check a subnet given by a user: IPv4, in CIDR form, room for a gateway and a container."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as err:
        raise UsageError(f"invalid subnet {text!r}: {str(err).lower()}", op="network create") from None
    if net.version != 4:
        raise UsageError(f"only ipv4 subnets are supported, got {text!r}", op="network create")
    if net.prefixlen > 29:
        raise UsageError(f"subnet {text} is too small (the largest prefix is /29)", op="network create")
    return net


def host_routes(proc_root: Path = PROC_ROOT) -> list[tuple[str, ipaddress.IPv4Network]]:
    """The IPv4 destinations the host already routes (except the default route).

    /proc/net/route prints each address as the hex of its 32-bit value in the host's
    (little-endian) byte order, so ``0000A8C0`` is 192.168.0.0. Returns (device, subnet) pairs.
    """
    routes = []
    try:
        lines = (proc_root / "net" / "route").read_text().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        if int(mask) == 0:
            continue
        routes.append((fields[0], ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    return routes


def route_clash(subnet, bridges, proc_root: Path = PROC_ROOT) -> tuple[str, ipaddress.IPv4Network] | None:
    """The first host route overlapping ``subnet`` on a device other than ``bridges`` (ours):
    the kernel would send the subnet's packets there (podman's cni-podman0, a VPN...)."""
    subnet = ipaddress.ip_network(subnet)
    for dev, route in host_routes(proc_root):
        if dev not in bridges and route.overlaps(subnet):
            return dev, route
    return None


class NetworkStore:
    """The networks of one state root. Every change happens under :meth:`lock`."""

    def __init__(self, state_root: str | os.PathLike, *, default_subnet: str | None = None,
                 default_bridge: str = DEFAULT_BRIDGE, proc_root: Path = PROC_ROOT,
                 run_root: str | os.PathLike | None = None) -> None:
        self.root = Path(state_root) / "networks"
        self.run_root = Path(run_root) if run_root is not None else paths.run_root()
        self.default_subnet = default_subnet or os.environ.get("MINICONTAINER_BRIDGE_SUBNET") or DEFAULT_SUBNET
        self.default_bridge = default_bridge
        self.proc_root = Path(proc_root)

    # -- the lock ----------------------------------------------------------
    def lock(self):
        """An exclusive flock(2) on ``networks/.lock``: one writer at a time, across processes.

        flock locks belong to the open file description, so two threads that each open
        the file also exclude each other; the kernel drops the lock if we crash.
        """
        return locked(self.root / ".lock", NetworkError, mode=0o755)

    # -- reading -----------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def record(self, name: str) -> Network | None:
        """The record of network ``name``, or None; takes no lock (the caller may hold it)."""
        return self._read(name)

    def _read(self, name: str) -> Network | None:
        data = read_json(self._path(name), "cannot read network record", NetworkError, op="network")
        return Network(**data) if data is not None else None

    def ls(self) -> list[Network]:
        """All networks, the default one included once it exists."""
        if not self.root.is_dir():
            return []
        nets = [self._read(p.stem) for p in sorted(self.root.glob("*.json"))]
        return [n for n in nets if n is not None]

    def inspect(self, name: str) -> Network:
        """One network by name; :class:`NotFoundError` when there is none."""
        check_name(name)
        net = self._read(name)
        if net is None:
            if name == DEFAULT_NETWORK:
                return self.ensure_default()
            raise NotFoundError(f"no such network: {name}", op="network")
        return net

    def ensure_default(self) -> Network:
        """The default network, written on first use."""
        with self.lock():
            net = self._read(DEFAULT_NETWORK)
            if net is None:
                subnet = parse_subnet(self.default_subnet)
                net = self._new(DEFAULT_NETWORK, self.default_bridge, subnet, default=True)
            return net

    # -- changing ----------------------------------------------------------
    def create(self, name: str, subnet: str | None = None, *, bridge: str | None = None,
               internal: bool = False) -> Network:
        """Record a new bridge network (the bridge device itself appears on first connect)."""
        check_name(name)
        if name == DEFAULT_NETWORK or name in RESERVED_NAMES:
            raise ConflictError(f"network name {name!r} is reserved", op="network create")
        wanted = parse_subnet(subnet) if subnet is not None else None
        bridge = bridge or bridge_name_for(name)
        if not _IFNAME_RE.match(bridge):
            raise UsageError(f"invalid bridge name {bridge!r} (1-15 of a-z A-Z 0-9 _ . -)", op="network create")
        if self._read(DEFAULT_NETWORK) is None:
            self.ensure_default()         # so a user network cannot overlap the default one
        with self.lock():
            if self._read(name) is not None:
                raise ConflictError(f"network {name} already exists", op="network create")
            others = self.ls()
            for other in others:
                if other.bridge == bridge:
                    raise ConflictError(f"bridge {bridge} is already used by network {other.name}",
                                        op="network create")
            if wanted is not None:
                for other in others:
                    if wanted.overlaps(ipaddress.ip_network(other.subnet)):
                        raise ConflictError(f"subnet {wanted} overlaps network {other.name} ({other.subnet})",
                                            op="network create")
                clash = route_clash(wanted, {o.bridge for o in others}, self.proc_root)
                if clash:
                    raise ConflictError(f"subnet {wanted} overlaps the host route {clash[1]} on {clash[0]}",
                                        op="network create")
            else:
                wanted = self._free_subnet(others)
            net = self._new(name, bridge, wanted, internal=internal)
        net.event(self.root.parent, "create")
        return net

    def _free_subnet(self, others: list[Network]) -> ipaddress.IPv4Network:
        taken = [ipaddress.ip_network(o.subnet) for o in others]
        taken += [route for _, route in host_routes(self.proc_root)]
        for candidate in ipaddress.ip_network(USER_POOL).subnets(new_prefix=USER_PREFIX):
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
        raise NetworkError(f"no free /{USER_PREFIX} subnet left in {USER_POOL}", op="network create")

    def _new(self, name: str, bridge: str, subnet: ipaddress.IPv4Network, *, default: bool = False,
             internal: bool = False) -> Network:
        gateway = next(subnet.hosts())
        net = Network(name=name, bridge=bridge, subnet=str(subnet), gateway=str(gateway),
                      created=time.time(), default=default, internal=internal)
        write_json(self._path(name), net.to_dict())
        return net

    def rm(self, name: str, *, in_use: list[str] | None = None) -> Network:
        """Forget a user network. Refused for the default one and while containers use it.

        Removing the bridge device is the caller's job (``endpoint.remove_network`` does
        both); ``in_use`` lets it pass the containers it found.
        """
        check_name(name)
        net = self._read(name)
        if name == DEFAULT_NETWORK or (net is not None and net.default):
            raise ConflictError(f"network {name} is the default network and cannot be removed", op="network rm")
        if in_use:
            raise ConflictError(f"network {name} is in use by {len(in_use)} container(s): "
                                f"{', '.join(sorted(in_use))}", op="network rm")
        if net is None:
            raise NotFoundError(f"no such network: {name}", op="network rm")
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            pass
        return net


def check_name(name: str) -> None:
    """A network name: letters, digits, ``_ . -``, at most 64 characters."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UsageError(f"invalid network name {name!r} (letters, digits, '_', '.', '-'; at most 64)",
                         op="network")


def write_json(path: Path, data: dict) -> None:
    """Write a small network record atomically (:func:`minicontainer.records.write_json`)."""
    records.write_json(path, data, "cannot write", NetworkError)

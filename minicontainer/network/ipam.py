"""IPAM: which container has which address, so that no two get the same one.

IP address management is bookkeeping, not a kernel feature: the kernel will happily
let two interfaces on one bridge carry the same address, and then ARP (RFC 826) answers
come from both and traffic goes to whichever answered last. So the runtime must hand out
addresses itself.

The table belongs to the *bridge*, not to a state root. A bridge is one device on the
host, and several state roots may plug containers into it: every root's default network
is the bridge ``mc0``. A table per state root would let two roots both hand out
10.76.0.2 on it. So there is one small JSON table per bridge in a host-wide runtime
directory on a tmpfs (``/run/minicontainer`` by default; no container survives a reboot,
and neither does the table)::

    <run_root>/ipam/<bridge>.json   {"10.76.0.2": {"root": "/var/lib/minicontainer", "id": "<container id>"}}
    <run_root>/ipam/.lock           flock(2) lock for every read-modify-write (one for all
                                    bridges: a table that empties is removed, its lock could not be)

A state root sees and changes only its own entries; an entry whose state root no longer
exists is dropped on the next allocation (a root without a directory has no containers).
The first host address of the subnet is the gateway (it sits on the bridge); the
network and broadcast addresses are never used. A new container gets the lowest free
address. Callers hold the store's lock (:meth:`NetworkStore.lock`) as well; this module
takes the host-wide one inside it, always in that order, which is how 50 containers
starting at once, from any number of state roots, still get 50 different addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os

from ..errors import NetworkError
from ..locks import locked
from ..records import read_json
from .store import Network, NetworkStore, write_json


class Ipam:
    """This state root's view of the address tables of its networks' bridges."""

    def __init__(self, store: NetworkStore) -> None:
        self.store = store
        self.dir = store.run_root / "ipam"
        self.me = os.path.abspath(store.root.parent)     # store.root is <state root>/networks

    # -- the bridge's table ----------------------------------------------------
    def _bridge(self, network: str | Network) -> str | None:
        if isinstance(network, Network):
            return network.bridge
        net = self.store.record(network)                 # no lock: the caller holds the store's
        return net.bridge if net is not None else None

    def _read(self, bridge: str) -> dict[str, dict]:
        path = self.dir / f"{bridge}.json"
        data = read_json(path, "cannot read address table", NetworkError, op="ipam")
        if data is None:
            return {}
        if not isinstance(data, dict):      # dropping it would hand its addresses out twice
            raise NetworkError("cannot read address table: not a JSON object", op="ipam", path=path)
        return {addr: e for addr, e in data.items() if isinstance(e, dict) and "root" in e and "id" in e}

    @contextlib.contextmanager
    def _editing(self, bridge: str):
        """The bridge's whole table, under the lock; written back (or removed when empty)."""
        with locked(self.dir / ".lock", NetworkError, mode=0o755):
            table = self._read(bridge)
            before = dict(table)
            yield table
            if table != before:
                path = self.dir / f"{bridge}.json"
                if table:
                    write_json(path, table)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

    # -- this root's view ------------------------------------------------------
    def table(self, network: str) -> dict[str, str]:
        """address -> container id, for this state root's containers on ``network``."""
        bridge = self._bridge(network)
        if bridge is None:
            return {}
        return {addr: e["id"] for addr, e in self._read(bridge).items() if e["root"] == self.me}

    def allocate(self, network: Network, container_id: str, wanted: str | None = None) -> ipaddress.IPv4Address:
        """Give ``container_id`` an address on ``network`` (the same one again if it has one)."""
        subnet = ipaddress.ip_network(network.subnet)
        gateway = ipaddress.ip_address(network.gateway)
        with self._editing(network.bridge) as table:
            for addr in [a for a, e in table.items() if not os.path.isdir(e["root"])]:
                del table[addr]                          # its state root is gone, and so its containers
            for addr, e in table.items():
                if e["root"] == self.me and e["id"] == container_id:
                    return ipaddress.ip_address(addr)
            if wanted is not None:
                addr = ipaddress.ip_address(wanted)
                if addr not in subnet or addr in (gateway, subnet.network_address, subnet.broadcast_address):
                    raise NetworkError(f"address {addr} is not usable in {subnet}", op="ipam")
                if str(addr) in table:
                    raise NetworkError(f"address {addr} is already in use on network {network.name}", op="ipam")
                chosen = addr
            else:
                chosen = next((a for a in subnet.hosts() if a != gateway and str(a) not in table), None)
                if chosen is None:
                    raise NetworkError(f"no free address left in {subnet} (network {network.name})", op="ipam")
            table[str(chosen)] = {"root": self.me, "id": container_id}
        return chosen

    def release(self, network: str, container_id: str) -> list[str]:
        """Forget every address ``container_id`` (of this state root) holds on ``network``."""
        bridge = self._bridge(network)
        if bridge is None:
            return []
        with self._editing(bridge) as table:
            freed = [a for a, e in table.items() if e["root"] == self.me and e["id"] == container_id]
            for addr in freed:
                del table[addr]
        return freed

    def owners(self, network: str) -> set[str]:
        """This state root's container ids holding an address on ``network``."""
        return set(self.table(network).values())

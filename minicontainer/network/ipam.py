"""IPAM: which container has which address, so that no two get the same one.

IP address management is bookkeeping, not a kernel feature: the kernel will happily
let two interfaces on one bridge carry the same address, and then ARP (RFC 826) answers
come from both and traffic goes to whichever answered last. So the runtime must hand out
addresses itself. Here each network has a small JSON table::

    <state_root>/networks/ipam/<network>.json   {"10.88.0.2": "<container id>", ...}

The first host address of the subnet is the gateway (it sits on the bridge); the
network and broadcast addresses are never used. A new container gets the lowest free
address. Read-modify-write of the table is only safe while holding the store's
flock(2) lock (:meth:`NetworkStore.lock`); every function here expects the caller to
hold it, which is how 50 containers starting at once still get 50 different addresses.
"""

from __future__ import annotations

import ipaddress
import json

from ..errors import NetworkError
from .store import Network, NetworkStore, write_json


class Ipam:
    """Address tables of one store. Call every method with ``store.lock()`` held."""

    def __init__(self, store: NetworkStore) -> None:
        self.store = store
        self.dir = store.root / "ipam"

    def table(self, network: str) -> dict[str, str]:
        """address -> container id, for one network."""
        path = self.dir / f"{network}.json"
        try:
            return dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise NetworkError(f"cannot read address table: {err}", op="ipam", path=path) from err

    def _save(self, network: str, table: dict[str, str]) -> None:
        path = self.dir / f"{network}.json"
        if table:
            write_json(path, table)
        else:
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def allocate(self, network: Network, container_id: str, wanted: str | None = None) -> ipaddress.IPv4Address:
        """Give ``container_id`` an address on ``network`` (the same one again if it has one)."""
        subnet = ipaddress.ip_network(network.subnet)
        gateway = ipaddress.ip_address(network.gateway)
        table = self.table(network.name)
        for addr, owner in table.items():
            if owner == container_id:
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
        table[str(chosen)] = container_id
        self._save(network.name, table)
        return chosen

    def release(self, network: str, container_id: str) -> list[str]:
        """Forget every address ``container_id`` holds on ``network``; returns them."""
        table = self.table(network)
        freed = [addr for addr, owner in table.items() if owner == container_id]
        if freed:
            for addr in freed:
                del table[addr]
            self._save(network, table)
        return freed

    def owners(self, network: str) -> set[str]:
        """The container ids holding an address on ``network``."""
        return set(self.table(network).values())

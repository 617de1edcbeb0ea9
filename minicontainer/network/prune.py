"""Sweeping what a crash left behind: ``prune``.

If the runtime is killed (SIGKILL cannot be caught, so no cleanup code runs) the
container's network pieces may outlive it. Some go away by themselves: when the last
process of a network namespace exits, the kernel destroys the namespace, its eth0,
and so the host end of the veth pair too. Others do not: an address marked taken in
the IPAM table, an endpoint record, a name in other containers' hosts files, and the
port proxies, which are ordinary processes. This module finds them:

* an endpoint record whose container init is gone (its PID is dead, or now belongs
  to another process: the start time in /proc/PID/stat differs) is disconnected;
* a ``mcv*`` veth plugged into one of this store's bridges, whose name is derived from
  the id of one of *this state root's* containers (``container_ids``) and that no live
  record claims, is deleted. A bridge may be shared: the default ``mc0`` carries the
  containers of every state root on the host, so a veth we cannot trace to one of ours
  belongs to someone else and is never touched;
* an address in an IPAM table whose owner has no record is released;
* a bridge's NAT rules whose every user (a network of some state root) is gone are
  removed (``nat.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..paths import PROC_ROOT
from .endpoint import disconnect, endpoints, is_alive, veth_names
from .ipam import Ipam
from .store import NetworkStore


def prune(state_root, *, proc_root: Path = PROC_ROOT, store: NetworkStore | None = None,
          container_ids: Iterable[str] = ()) -> dict[str, list[str]]:
    """Remove leftovers of dead containers; returns what was removed, by kind.
    ``container_ids``: the ids of this state root's containers (the runtime knows them)."""
    from . import links
    store = store or NetworkStore(state_root, proc_root=proc_root)
    removed: dict[str, list[str]] = {"endpoints": [], "links": [], "addresses": []}
    for ep in endpoints(store):
        if not is_alive(ep, proc_root):
            disconnect(state_root, ep.container_id, proc_root=proc_root, store=store)
            removed["endpoints"].append(ep.container_id)
    live = endpoints(store)
    ours = {veth_names(cid)[0] for cid in container_ids} - {ep.host_veth for ep in live}
    for net in store.ls():
        for ifname in links.links_on(net.bridge):
            if ifname in ours and links.delete_link(ifname):
                removed["links"].append(ifname)
    with store.lock():
        ipam = Ipam(store)
        owners = {ep.container_id for ep in endpoints(store)}
        for net in store.ls():
            for owner in ipam.owners(net.name) - owners:
                removed["addresses"] += [f"{a} ({net.name})" for a in ipam.release(net.name, owner)]
    from .nat import Nat
    removed["nat rules"] = Nat(store, proc_root=proc_root).sweep()
    return removed

"""Container networking: bridges, veth pairs, IPAM, names and published ports.

The contract with the runtime (``minicontainer run``). Importing this package is cheap:
pyroute2 is only imported inside the functions that talk rtnetlink (``links.py``), so
``run --network none`` never pays for it.

Modes (``--network``)::

    none     a new network namespace with only lo; the runtime brings lo up itself
    host     no new network namespace: the container shares the host's interfaces
    bridge   the default network (bridge mc0, 10.76.0.0/16, gateway 10.76.0.1)
    NAME     a user network made with ``minicontainer network create NAME``

API::

    from minicontainer import network
    mappings = network.validate(state_root, "bridge", ["127.0.0.1:8080:80"])
                                   # before creating anything: NotFoundError/UsageError
    ep = network.connect(state_root, container_id, name, pid, network="bridge",
                         ports=["8080:80/tcp"], hostname="web", files_dir=container_dir)
                                   # pid: host PID of the container init, already in its
                                   # new netns (reached as <proc_root>/<pid>/ns/net) and waiting.
                                   # Writes files_dir/hosts and files_dir/resolv.conf: bind-mount
                                   # them over /etc/hosts and /etc/resolv.conf.
    ep.to_dict()                   # JSON for the runtime's state: ip, prefix, gateway, mac,
                                   # host_veth, network, ports (real host ports), proxies (PIDs)
    network.disconnect(state_root, container_id)   # idempotent, safe after a crash
    network.prune(state_root)                      # sweeps records/veths/addresses/proxies
                                                   # of containers whose init is gone
    network.parse_publish("127.0.0.1:8080:80/udp") # -> PortMapping; UsageError if malformed
    network.publish_all(["80/tcp"], host_ip)       # -P: exposed ports -> free host ports
    network.create_network(state_root, "web", internal=False)   # the record + the bridge's NAT rules
    network.NetworkStore(state_root)               # create(name, subnet=None) (record only) / ls() /
                                                   # inspect(name); network.remove_network()

``connect`` also takes ``syscalls=`` (a minicontainer.kernel.Syscalls: the setns into the
container's netns and the bridge's forwarding sysctl go through it; default: the real
kernel), ``proc_root=`` (default minicontainer.paths.PROC_ROOT) and ``store=``.
Records live in <state_root>/networks/ (networks, endpoints/<container_id>.json); the
address tables belong to the bridges and live host-wide in <run_root>/ipam/ (see ipam.py).
Containers on a bridge reach the outside through NAT (nat.py: masquerade and forwarding
by nftables or iptables, refcounted per bridge, removed with the last network using it);
``--internal`` networks get none. Between two of our bridges nothing is forwarded.

For none and host, ``connect`` only writes the two files and returns an Endpoint without
an address (``-p`` is refused with a UsageError). Every error is a MiniContainerError
(NetworkError, UsageError, NotFoundError, ConflictError) and bad input leaves nothing
behind: host ports are bound before any interface, address or process exists.

Modules: store (network records), ipam (addresses), ports (-p parsing, binding),
links (pyroute2: bridge, veth, addresses, routes), nat (outbound NAT; backends nft and
iptables, through runner), hosts (/etc/hosts, resolv.conf),
proxy (the proxy program), proxies (start/stop it), endpoint (connect/disconnect),
prune (leftovers after a crash).
"""

from __future__ import annotations

from . import endpoint as _endpoint
from . import prune as _prune
from .endpoint import Endpoint, create_network, find, validate, veth_names
from .loops import off_event_loop
from .ports import PortMapping, parse_publish, publish_all

# the calls that talk rtnetlink also work from a thread with a running event loop (Jupyter)
connect = off_event_loop(_endpoint.connect)
disconnect = off_event_loop(_endpoint.disconnect)
remove_network = off_event_loop(_endpoint.remove_network)
prune = off_event_loop(_prune.prune)
from .store import DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET, Network, NetworkStore

__all__ = ["Endpoint", "create_network", "connect", "disconnect", "find", "remove_network", "validate", "veth_names",
           "PortMapping", "parse_publish", "publish_all", "prune", "DEFAULT_BRIDGE", "DEFAULT_NETWORK",
           "DEFAULT_SUBNET", "Network", "NetworkStore"]

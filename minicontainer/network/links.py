"""Bridges, veth pairs, addresses and routes, over rtnetlink with pyroute2.

This is the only module in the project that imports pyroute2, and it does so inside
the functions, so importing the package costs nothing for ``--network none``.

What gets built for one container (compare ``ip link``/``ip addr`` in ip(8)) ::

      host network namespace                     container network namespace
    +-----------------------------+            +---------------------------+
    | mc0 (bridge) 10.76.0.1/16   |            |                           |
    |   |                         |   veth     |                           |
    |   +-- mcv<hash>  <==========|============|==> eth0 10.76.0.2/16      |
    |                             |   pair     |   default via 10.76.0.1   |
    +-----------------------------+            +---------------------------+

* A **bridge** (bridge(8), Documentation/networking/bridge.rst) is a software
  switch: frames that come in on one port go out on the port that owns the MAC.
  Giving the bridge an address makes the host a member of the subnet (the gateway).
* A **veth pair** (veth(4)) is two interfaces joined back to back: a frame sent into
  one comes out of the other. We create both ends on the host, attach one to the
  bridge, and move the other into the container's network namespace
  (network_namespaces(7)) with IFLA_NET_NS_PID, renaming it ``eth0`` in the same
  request. When the namespace dies its eth0 is destroyed, and with it the host end.
* All of this is rtnetlink (rtnetlink(7)): RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE
  messages on a netlink socket. A netlink socket talks to the namespace it was
  *created* in, so to configure eth0 we open one inside the container's namespace:
  a helper thread setns(2)s into /proc/PID/ns/net, creates the socket and ends. The
  thread is the only one that changes namespace; setns of a network namespace applies
  to the calling thread only.

Each bridge gets ``net.ipv4.conf.<bridge>.forwarding`` (ip-sysctl.rst): 1, so the host
routes the network's packets to its uplink (outbound NAT, see ``nat.py``: the filter
rules there keep networks isolated from each other), or 0 for an ``--internal``
network, whose packets the host then never routes anywhere.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from ..errors import KernelError, MiniContainerError, NetworkError
from ..kernel.constants import CLONE_NEWNET
from ..paths import PROC_ROOT


def _netlink_error(op: str, err: Exception, path=None) -> NetworkError:
    code = getattr(err, "code", None) or getattr(err, "errno", None) or 0
    text = os.strerror(code).lower() if code else str(err).lower()
    name = errno.errorcode.get(code, "")
    return NetworkError(f"{text} ({name})" if name else text, op=op, path=path)


def _code(err: Exception) -> int:
    return getattr(err, "code", None) or getattr(err, "errno", None) or 0


def ipr():
    """An rtnetlink socket in our own (the host's) network namespace."""
    from pyroute2 import IPRoute
    return IPRoute()


def ipr_in(pid: int, syscalls, proc_root: Path = PROC_ROOT):
    """An rtnetlink socket inside the network namespace of process ``pid``."""
    import socket

    from pyroute2 import IPRoute
    ns_path = Path(proc_root) / str(pid) / "ns" / "net"
    box: dict = {}

    def worker():
        try:
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            box["error"] = NetworkError(f"cannot open the container's network namespace: "
                                        f"{(err.strerror or str(err)).lower()}", op="open", path=ns_path)
            return
        try:
            syscalls.setns(fd, CLONE_NEWNET, "open a netlink socket inside the container's network namespace",
                           label=str(ns_path))
            box["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)  # NETLINK_ROUTE
        except (OSError, MiniContainerError) as err:
            box["error"] = err
        finally:
            os.close(fd)

    thread = threading.Thread(target=worker, name=f"netns-{pid}")
    thread.start()
    thread.join()
    if "error" in box:
        err = box["error"]
        if isinstance(err, MiniContainerError):
            raise err
        raise _netlink_error("socket", err, ns_path) from err
    return IPRoute(fileno=box["sock"].detach())


def index_of(ip, ifname: str) -> int | None:
    found = ip.link_lookup(ifname=ifname)
    return found[0] if found else None


def ensure_bridge(network, syscalls, proc_root: Path = PROC_ROOT) -> int:
    """Create the network's bridge if missing, with the gateway address, up. Returns its index."""
    from pyroute2 import NetlinkError
    with ipr() as ip:
        idx = index_of(ip, network.bridge)
        try:
            if idx is None:
                ip.link("add", ifname=network.bridge, kind="bridge")
                idx = index_of(ip, network.bridge)
            addrs = {a.get("address") for a in ip.get_addr(index=idx, family=2)}
            if network.gateway not in addrs:
                ip.addr("add", index=idx, address=network.gateway, prefixlen=network.prefix)
            ip.link("set", index=idx, state="up")
        except NetlinkError as err:
            raise _netlink_error("bridge", err, network.bridge) from err
    from .nat import bridge_forwarding
    forwarding = Path(proc_root) / "sys/net/ipv4/conf" / network.bridge / "forwarding"
    wanted = bridge_forwarding(network)
    why = ("route this network's packets out (NAT; the filter rules keep other networks out)" if wanted == "1"
           else "an internal network: never route its packets to other interfaces")
    try:
        if forwarding.read_text().strip() != wanted:
            syscalls.write_file(str(forwarding), wanted, why)
    except OSError as err:
        raise NetworkError(f"cannot read: {(err.strerror or str(err)).lower()}", op="sysctl", path=forwarding) from err
    return idx


def delete_link(ifname: str) -> bool:
    """Delete an interface (for a veth, both ends go). False if it was not there."""
    from pyroute2 import NetlinkError
    with ipr() as ip:
        idx = index_of(ip, ifname)
        if idx is None:
            return False
        try:
            ip.link("del", index=idx)
        except NetlinkError as err:
            if _code(err) == errno.ENODEV:
                return False
            raise _netlink_error("link del", err, ifname) from err
    return True


def links_on(bridge: str) -> list[str]:
    """Names of the interfaces plugged into ``bridge`` (its ports)."""
    with ipr() as ip:
        idx = index_of(ip, bridge)
        if idx is None:
            return []
        return [link.get("ifname") for link in ip.get_links() if link.get("master") == idx]


def bridge_exists(bridge: str) -> bool:
    with ipr() as ip:
        return index_of(ip, bridge) is not None


def plug_container(network, host_if: str, temp_if: str, pid: int, address: str, syscalls,
                   proc_root: Path = PROC_ROOT) -> str:
    """Create the veth pair, move one end into ``pid``'s namespace as eth0 and configure it.

    Returns eth0's MAC address. On failure the pair is deleted before the error is raised.
    """
    from pyroute2 import NetlinkError
    step = "veth"
    try:
        with ipr() as ip:
            bridge_idx = index_of(ip, network.bridge)
            if bridge_idx is None:
                raise NetworkError("bridge disappeared", op="veth", path=network.bridge)
            # the host end is attached to the bridge in the same request (IFLA_MASTER)
            ip.link("add", ifname=host_if, kind="veth", peer=temp_if, master=bridge_idx)
            step = "move"
            peer_idx = index_of(ip, temp_if)
            ip.link("set", index=peer_idx, net_ns_pid=pid, ifname="eth0")
            step = "up"
            ip.link("set", index=index_of(ip, host_if), state="up")
        step = "configure"
        with ipr_in(pid, syscalls, proc_root) as ns:
            eth0 = index_of(ns, "eth0")
            lo = index_of(ns, "lo")
            if lo is not None:
                ns.link("set", index=lo, state="up")
            ns.addr("add", index=eth0, address=address, prefixlen=network.prefix)
            ns.link("set", index=eth0, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=network.gateway, oif=eth0)
            mac = ns.get_links(eth0)[0].get("address")
        return mac
    except (NetlinkError, OSError, KernelError, NetworkError) as err:
        delete_link(host_if)
        delete_link(temp_if)
        if isinstance(err, MiniContainerError):
            raise
        raise _netlink_error(step, err, host_if) from err


def delete_bridge(bridge: str) -> bool:
    """Remove a bridge device (for ``network rm``)."""
    return delete_link(bridge)

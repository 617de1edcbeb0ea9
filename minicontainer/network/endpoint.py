"""Plugging a container into a network, and unplugging it: connect / disconnect.

The runtime's parent process calls :func:`connect` after the container's init has
unshare(2)d its network namespace (CLONE_NEWNET) and while it waits to be told to go
on. A new network namespace holds nothing but a loopback device that is down; connect
gives it an eth0 on the network's bridge (see ``links.py``), an address from IPAM
(``ipam.py``), a default route, name files (``hosts.py``) and port proxies
(``proxies.py``). The order matters, so that bad input leaves nothing behind:

1. check the network and the ``-p`` mappings, and *bind* the host ports
   (a port in use fails here, when nothing exists yet);
2. under the store lock: make sure the bridge exists, take an address, write the
   endpoint record (from here on ``prune`` can find and undo everything);
3. veth pair, move it, configure eth0 inside the namespace;
4. start the proxies (their PIDs go into the record), rewrite the hosts files.

Any failure in 2-4 undoes what was done. :func:`disconnect` undoes everything from the
record alone, so it works after a crash and twice in a row.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConflictError, MiniContainerError, NetworkError, UsageError
from ..paths import PROC_ROOT
from ..records import read_json
from . import hosts as H
from .ipam import Ipam
from .ports import PortMapping, bind_all, parse_publish
from .store import Network, NetworkStore

HOST_VETH_PREFIX = "mcv"     # mcv + 12 hex = 15 characters, the most IFNAMSIZ allows
TEMP_PEER_PREFIX = "mcp"     # the container end's name until it is moved and renamed eth0
MODES = ("none", "host")     # network modes that have no bridge and no endpoint record
_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


def veth_names(container_id: str) -> tuple[str, str]:
    """(host end, temporary container end) for a container: 15 characters each.

    Derived from a hash of the id, so they are the same every time (disconnect after a
    crash can find them) and do not depend on how long or short the id is.
    """
    digest = hashlib.sha256(container_id.encode()).hexdigest()[:12]
    return HOST_VETH_PREFIX + digest, TEMP_PEER_PREFIX + digest


@dataclass
class Endpoint:
    """What connect built; JSON-serialisable so the runtime can keep it in its state."""

    container_id: str
    network: str
    name: str = ""
    hostname: str = ""
    ip: str | None = None
    prefix: int | None = None
    gateway: str | None = None
    mac: str | None = None
    host_veth: str | None = None
    bridge: str | None = None
    ports: list[dict] = field(default_factory=list)     # PortMapping.to_dict(), real host ports
    proxies: list[int] = field(default_factory=list)    # PIDs, same order as ports
    files_dir: str | None = None
    pid: int | None = None
    pid_start: str | None = None                        # /proc/PID/stat field 22, to spot PID reuse
    created: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Endpoint":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def mappings(self) -> list[PortMapping]:
        return [PortMapping.from_dict(p) for p in self.ports]


# -- endpoint records ----------------------------------------------------------

def _records_dir(store: NetworkStore) -> Path:
    return store.root / "endpoints"


def load(store: NetworkStore, container_id: str) -> Endpoint | None:
    path = _records_dir(store) / f"{container_id}.json"
    data = read_json(path, "cannot read endpoint record", NetworkError, op="network")
    return Endpoint.from_dict(data) if data is not None else None


def save(store: NetworkStore, ep: Endpoint) -> None:
    from .store import write_json
    write_json(_records_dir(store) / f"{ep.container_id}.json", ep.to_dict())


def forget(store: NetworkStore, container_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (_records_dir(store) / f"{container_id}.json").unlink()


def endpoints(store: NetworkStore) -> list[Endpoint]:
    """Every endpoint record of the store."""
    folder = _records_dir(store)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        ep = load(store, path.stem)
        if ep is not None:
            found.append(ep)
    return found


def process_start(pid: int, proc_root: Path = PROC_ROOT) -> str | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks); None if there is no such process.

    A zombie (state Z or X) counts as gone: it has exited, its namespaces are released.
    The command name in field 2 may hold spaces and parentheses, so we split after the last ')'.
    """
    try:
        stat = (Path(proc_root) / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def is_alive(ep: Endpoint, proc_root: Path = PROC_ROOT) -> bool:
    """The container's init still runs (the same process, not a recycled PID)."""
    return ep.pid is not None and process_start(ep.pid, proc_root) == ep.pid_start


# -- hosts files ---------------------------------------------------------------

def rewrite_hosts(store: NetworkStore, network: str) -> None:
    """Rewrite the hosts file of every container on ``network`` (call with the lock held)."""
    members = [ep for ep in endpoints(store) if ep.network == network and ep.ip]
    for ep in members:
        if not ep.files_dir or not Path(ep.files_dir).is_dir():
            continue
        own = [(ep.ip, [ep.hostname, ep.name])]
        peers = [(o.ip, [o.name, o.hostname]) for o in members if o is not ep]
        H.write_in_place(Path(ep.files_dir) / H.HOSTS_FILE, H.hosts_text(own, peers))


def _write_mode_files(files_dir, hostname: str, name: str, network: str, host_resolv: Path) -> None:
    """none/host modes: no peers; the container's name resolves to a loopback address."""
    if files_dir is None:
        return
    files_dir = Path(files_dir)
    own = [("127.0.1.1", [hostname, name])] if (hostname or name) else []
    H.write_in_place(files_dir / H.HOSTS_FILE, H.hosts_text(own, []))
    H.write_resolv_conf(files_dir, host_resolv, host_network=network == "host", warn=False)


# -- connect / disconnect ------------------------------------------------------

def validate(state_root, network: str = "bridge", ports=()) -> list[PortMapping]:
    """Check ``--network`` and ``-p`` before anything exists; returns the parsed mappings."""
    mappings = [parse_publish(p) if isinstance(p, str) else p for p in ports]
    if network in MODES:
        if mappings:
            raise UsageError(f"port publishing needs a bridge network, not --network {network}", op="publish")
        return mappings
    NetworkStore(state_root).inspect(network)
    return mappings


def connect(state_root, container_id: str, name: str, pid: int, network: str = "bridge", ports=(),
            hostname: str | None = None, files_dir=None, *, syscalls=None, proc_root: Path = PROC_ROOT,
            host_resolv: Path = H.HOST_RESOLV_CONF, store: NetworkStore | None = None) -> Endpoint:
    """Give the container whose init is host PID ``pid`` its network; see the module docstring.

    ``ports`` are ``-p`` strings or :class:`PortMapping` s. ``files_dir`` receives
    ``hosts`` and ``resolv.conf``. ``syscalls`` defaults to the real kernel.
    """
    if not isinstance(container_id, str) or not _ID_RE.match(container_id):
        raise UsageError(f"invalid container id {container_id!r}", op="network connect")
    hostname = hostname or container_id[:12]
    mappings = [parse_publish(p) if isinstance(p, str) else p for p in ports]
    if network in MODES:
        if mappings:
            raise UsageError(f"port publishing needs a bridge network, not --network {network}", op="publish")
        _write_mode_files(files_dir, hostname, name, network, host_resolv)
        return Endpoint(container_id=container_id, network=network, name=name, hostname=hostname,
                        files_dir=str(files_dir) if files_dir else None, pid=pid, created=time.time())
    if syscalls is None:
        from ..kernel import default
        syscalls = default()
    store = store or NetworkStore(state_root, proc_root=proc_root)
    net = store.inspect(network)
    old = load(store, container_id)
    if old is not None:
        if is_alive(old, proc_root):
            raise ConflictError(f"container {container_id} is already connected to {old.network}",
                                op="network connect")
        disconnect(state_root, container_id, proc_root=proc_root, store=store)
    start = process_start(pid, proc_root)
    if start is None:
        raise NetworkError(f"no such process {pid}", op="network connect", path=Path(proc_root) / str(pid))

    check_routes(net, proc_root)          # 1. nothing exists yet: a clash fails cleanly
    bound = bind_all(mappings)            #    and so does a used port
    host_if, temp_if = veth_names(container_id)
    ep = Endpoint(container_id=container_id, network=net.name, name=name, hostname=hostname,
                  prefix=net.prefix, gateway=net.gateway, host_veth=host_if, bridge=net.bridge,
                  ports=[m.to_dict() for _, m in bound], files_dir=str(files_dir) if files_dir else None,
                  pid=pid, pid_start=start, created=time.time())
    recorded = False
    try:
        from . import links
        from .nat import Nat
        with store.lock():                # 2. NAT, bridge, record, address
            Nat(store, syscalls=syscalls, proc_root=proc_root).attach(net)   # a no-op once attached
            links.ensure_bridge(net, syscalls, proc_root)
            save(store, ep)               # first: a SIGKILL after it leaves a record that
            recorded = True               # disconnect() undoes, address and all
            ep.ip = str(Ipam(store).allocate(net, container_id))
            save(store, ep)
        ep.mac = links.plug_container(net, host_if, temp_if, pid, f"{ep.ip}", syscalls, proc_root)  # 3.
        from . import proxies             # 4. proxies and names
        for sock, mapping in bound:
            ep.proxies.append(proxies.spawn(sock, mapping, ep.ip, container_id))
            save(store, ep)
        if files_dir is not None:
            H.write_resolv_conf(Path(files_dir), host_resolv)
        with store.lock():
            save(store, ep)
            rewrite_hosts(store, net.name)
        net.event(state_root, "connect", container=container_id)
    except BaseException:
        if recorded:
            try:
                disconnect(state_root, container_id, proc_root=proc_root, store=store)
            except (MiniContainerError, OSError) as err:    # the connect's own error is the one raised
                from .. import log
                log.swallowed("network", f"undo the connect of {container_id[:12]}", err)
        raise
    finally:
        for sock, _ in bound:             # the proxies hold their own copies now
            sock.close()
    return ep


def check_routes(net, proc_root: Path = PROC_ROOT) -> None:
    """Refuse a network whose subnet another interface of the host also routes (podman's
    cni-podman0 on 10.88.0.0/16, say): the kernel would send the containers' packets there,
    and connections to them would hang instead of failing (proc(5), /proc/net/route)."""
    from .store import route_clash
    clash = route_clash(net.subnet, {net.bridge}, proc_root)
    if clash:
        dev, route = clash
        raise ConflictError(f"network {net.name} ({net.subnet} on {net.bridge}) overlaps the host route {route} "
                            f"on {dev}: remove {dev} or use another subnet"
                            + (" (MINICONTAINER_BRIDGE_SUBNET for the default network)" if net.default else ""),
                            op="network connect")


def disconnect(state_root, container_id: str, *, proc_root: Path = PROC_ROOT,
               store: NetworkStore | None = None) -> Endpoint | None:
    """Undo :func:`connect` from the record: proxies, veth, address, hosts entries. Idempotent."""
    store = store or NetworkStore(state_root, proc_root=proc_root)
    ep = load(store, container_id)
    if ep is None:
        return None
    from . import links, proxies
    for pid in ep.proxies:
        proxies.stop(pid, container_id, proc_root)
    host_if, temp_if = veth_names(container_id)
    links.delete_link(host_if)            # deleting one end of a veth deletes both
    links.delete_link(temp_if)
    with store.lock():
        Ipam(store).release(ep.network, container_id)
        forget(store, container_id)
        rewrite_hosts(store, ep.network)
        net = store.record(ep.network)
    if net is not None:
        net.event(state_root, "disconnect", container=container_id)
    return ep


def create_network(state_root, name: str, subnet: str | None = None, *, bridge: str | None = None,
                   internal: bool = False, store: NetworkStore | None = None, syscalls=None,
                   runner=None) -> Network:
    """``network create``: the record, then the bridge's NAT rules (``nat.py``); if the rules
    cannot be installed the record goes again, so a failed create leaves nothing behind."""
    from .nat import Nat
    store = store or NetworkStore(state_root)
    net = store.create(name, subnet, bridge=bridge, internal=internal)
    try:
        Nat(store, syscalls=syscalls, runner=runner).attach(net)
    except BaseException:
        try:
            store.rm(name)
            net.event(state_root, "destroy")
        except (MiniContainerError, OSError) as err:        # the NAT's own error is the one raised
            from .. import log
            log.swallowed("network", f"undo the creation of network {name}", err)
        raise
    return net


def remove_network(state_root, name: str, *, store: NetworkStore | None = None, runner=None) -> Network:
    """``network rm``: refused for the default network and while a container uses it.
    The bridge goes, and its NAT rules with the last network of any state root using it."""
    from . import links
    from .nat import Nat
    store = store or NetworkStore(state_root)
    net = store.inspect(name)
    with store.lock():
        users = [ep.name or ep.container_id for ep in endpoints(store) if ep.network == name]
        users += sorted(Ipam(store).owners(name) - {ep.container_id for ep in endpoints(store)})
        store.rm(name, in_use=users)
    links.delete_bridge(net.bridge)
    Nat(store, runner=runner).detach(net)
    net.event(state_root, "destroy")
    return net


def find(state_root, ref: str) -> Endpoint:
    """An endpoint by container id, unique id prefix, or container name."""
    from ..errors import NotFoundError
    store = NetworkStore(state_root)
    eps = endpoints(store)
    exact = [ep for ep in eps if ep.container_id == ref or ep.name == ref]
    if len(exact) == 1:
        return exact[0]
    prefix = [ep for ep in eps if ep.container_id.startswith(ref)]
    if len(prefix) == 1 and ref:
        return prefix[0]
    if len(exact) + len(prefix) > 1:
        raise ConflictError(f"{ref!r} matches more than one container", op="port")
    raise NotFoundError(f"no networked container {ref!r}", op="port")


def address_of(ep: Endpoint) -> str | None:
    """``ip/prefix`` of an endpoint, or None for none/host."""
    if ep.ip is None:
        return None
    return str(ipaddress.ip_interface(f"{ep.ip}/{ep.prefix}"))

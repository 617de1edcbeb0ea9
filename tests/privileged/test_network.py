"""Container networking on the real kernel: bridges, veth pairs, addresses, proxies.

Only namespaces and interfaces these tests create are touched: each test gets its own
state root, bridge names starting ``mct`` and subnets in 10.213.0.0/16. Traffic goes
only between the tests' own namespaces and to 127.0.0.1.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest

if os.geteuid() != 0:
    pytest.skip("needs root: creates network namespaces, bridges and veth pairs", allow_module_level=True)

from minicontainer import network as N  # noqa: E402
from minicontainer.errors import ConflictError, NetworkError, NotFoundError, UsageError  # noqa: E402
from minicontainer.network import links, proxies  # noqa: E402
from minicontainer.network.endpoint import endpoints, process_start, veth_names  # noqa: E402
from minicontainer.network.ipam import Ipam  # noqa: E402

pytestmark = pytest.mark.privileged


def host_links() -> set[str]:
    with links.ipr() as ip:
        return {link.get("ifname") for link in ip.get_links()}


def proxy_pids_of(ids) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if any(proxies.is_proxy_of(int(pid), cid) for cid in ids):
            found.append(int(pid))
    return found


class Sandbox:
    """Fake containers (``unshare --net`` sleepers) on networks in a private state root."""

    def __init__(self, root):
        self.root = root
        self.tag = uuid.uuid4().hex[:6]
        self.store = N.NetworkStore(root)
        self.procs: list[subprocess.Popen] = []
        self.ids: list[str] = []
        self.bridges: list[str] = []
        self.names: list[str] = []

    def network(self, name: str, subnet: str):
        net = self.store.create(name, subnet, bridge=f"mct{self.tag}{len(self.bridges)}")
        self.bridges.append(net.bridge)
        self.names.append(name)
        return net

    def container(self) -> int:
        """Start a process in a new network namespace; returns its host PID."""
        p = subprocess.Popen(["unshare", "--net", "--fork", "--kill-child", "sleep", "120"])
        self.procs.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
            except OSError:
                kids = []
            if kids and os.readlink(f"/proc/{kids[0]}/ns/net") != os.readlink("/proc/self/ns/net"):
                return int(kids[0])
            time.sleep(0.01)
        raise RuntimeError("unshare did not start")

    def connect(self, cid, pid, network, **kw):
        cid = f"{self.tag}-{cid}"
        self.ids.append(cid)
        files = self.root / "containers" / cid
        files.mkdir(parents=True, exist_ok=True)
        return N.connect(self.root, cid, kw.pop("name", cid), pid, network=network, files_dir=files, **kw)

    def close(self):
        for cid in self.ids:
            N.disconnect(self.root, cid)
        for p in self.procs:
            p.kill()           # --kill-child takes the sleeper with it
            p.wait()
        N.prune(self.root)
        for name in self.names:
            with contextlib.suppress(NotFoundError):
                N.remove_network(self.root, name)  # the bridge and its NAT rules (nat.py)
        for bridge in self.bridges:
            links.delete_bridge(bridge)


@pytest.fixture
def sandbox(tmp_path):
    netns_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    box = Sandbox(tmp_path / "state")
    try:
        yield box
    finally:
        box.close()
        leftover = {name for name in host_links() if name.startswith(f"mct{box.tag}")}
        leftover |= host_links() & {veth_names(cid)[0] for cid in box.ids}
        assert not leftover, f"interfaces left behind: {leftover}"
        from minicontainer.network.nat import detect
        backend = detect()
        assert not set(box.bridges) & (backend.bridges() if backend else set()), "nat rules left behind"
        assert not proxy_pids_of(box.ids), "proxy processes left behind"
        after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        assert after == netns_before


def in_ns(pid, *argv, timeout=10):
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True,
                          timeout=timeout)


def ping(pid, target):
    return in_ns(pid, "busybox", "ping", "-c1", "-W1", target).returncode == 0


def test_two_containers_reach_each_other_by_address_and_name(sandbox):
    sandbox.network("t-a", "10.213.1.0/24")
    p1, p2 = sandbox.container(), sandbox.container()
    e1 = sandbox.connect("one", p1, "t-a", name="alpha", hostname="alpha")
    e2 = sandbox.connect("two", p2, "t-a", name="beta", hostname="beta")
    assert (e1.ip, e2.ip, e1.gateway, e1.prefix) == ("10.213.1.2", "10.213.1.3", "10.213.1.1", 24)
    assert e1.host_veth in links.links_on(e1.bridge) and e2.host_veth in links.links_on(e1.bridge)
    out = in_ns(p1, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "10.213.1.2/24" in out
    assert "default via 10.213.1.1" in in_ns(p1, "ip", "route").stdout
    assert e1.mac in in_ns(p1, "ip", "link", "show", "eth0").stdout
    assert ping(p1, e2.ip) and ping(p2, e1.ip)
    # by name: the hosts file the runtime would bind-mount over /etc/hosts
    hosts = sandbox.root / "containers" / e1.container_id / "hosts"
    assert "10.213.1.3\tbeta" in hosts.read_text()
    script = f"mount --bind {hosts} /etc/hosts && busybox ping -c1 -W1 beta"
    r = subprocess.run(["nsenter", "-t", str(p1), "-n", "unshare", "--mount", "sh", "-c", script],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "10.213.1.3" in r.stdout
    assert (sandbox.root / "containers" / e1.container_id / "resolv.conf").exists()


def test_networks_are_isolated(sandbox):
    a = sandbox.network("t-a", "10.213.1.0/24")
    b = sandbox.network("t-b", "10.213.2.0/24")
    p1, p2, p3 = sandbox.container(), sandbox.container(), sandbox.container()
    sandbox.connect("a1", p1, "t-a")
    sandbox.connect("a2", p2, "t-a")
    eb = sandbox.connect("b1", p3, "t-b")
    for bridge in (a.bridge, b.bridge):       # routed out (NAT), but the filter keeps networks apart
        assert open(f"/proc/sys/net/ipv4/conf/{bridge}/forwarding").read().strip() == "1"
    assert ping(p1, "10.213.1.3")
    assert not ping(p1, eb.ip)
    assert not ping(p3, "10.213.1.2")


def test_published_tcp_and_udp_ports_reach_the_container(sandbox, tmp_path):
    sandbox.network("t-p", "10.213.3.0/24")
    pid = sandbox.container()
    ep = sandbox.connect("web", pid, "t-p", ports=["127.0.0.1::8000", "127.0.0.1::5353/udp"])
    tcp, udp = ep.mappings()
    assert (tcp.proto, udp.proto) == ("tcp", "udp") and tcp.host_port and udp.host_port
    assert len(ep.proxies) == 2 and all(proxies.is_proxy_of(p, ep.container_id) for p in ep.proxies)
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from the container\n")
    udp_echo = ("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\n"
                "while True:\n d,a=s.recvfrom(999)\n s.sendto(b'pong:'+d,a)\n")
    servers = [subprocess.Popen(["nsenter", "-t", str(pid), "-n", "busybox", "httpd", "-f", "-p", "8000",
                                 "-h", str(www)]),
               subprocess.Popen(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", udp_echo])]
    try:
        body = None
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{tcp.host_port}/index.html", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"hello from the container\n"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            reply = None
            for _ in range(20):
                s.sendto(b"ping", ("127.0.0.1", udp.host_port))
                try:
                    reply = s.recv(100)
                    break
                except socket.timeout:
                    continue
        assert reply == b"pong:ping"
    finally:
        for s in servers:
            s.kill()
            s.wait()
    N.disconnect(sandbox.root, ep.container_id)
    assert proxy_pids_of([ep.container_id]) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", tcp.host_port), timeout=2).close()


def test_port_in_use_fails_before_anything_is_created(sandbox):
    sandbox.network("t-u", "10.213.4.0/24")
    pid = sandbox.container()
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(NetworkError, match=f"host port 127.0.0.1:{port}/tcp is already in use"):
            sandbox.connect("x", pid, "t-u", ports=["127.0.0.1::80", f"127.0.0.1:{port}:80"])
    finally:
        busy.close()
    cid = sandbox.ids[-1]
    assert veth_names(cid)[0] not in host_links()
    assert Ipam(sandbox.store).table("t-u") == {} and endpoints(sandbox.store) == []
    assert proxy_pids_of([cid]) == []
    assert len(in_ns(pid, "ip", "-o", "link").stdout.splitlines()) == 1     # still only lo


def test_bad_input_leaves_nothing(sandbox):
    pid = sandbox.container()
    with pytest.raises(NotFoundError, match="no such network: nope"):
        sandbox.connect("x", pid, "nope")
    with pytest.raises(UsageError):
        sandbox.connect("y", pid, "bridge", ports=["70000:80"])
    with pytest.raises(UsageError, match="needs a bridge network"):
        sandbox.connect("z", pid, "none", ports=["8080:80"])
    sandbox.network("t-d", "10.213.5.0/24")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(NetworkError, match="no such process"):
        sandbox.connect("d", dead.pid, "t-d")
    assert endpoints(sandbox.store) == [] and Ipam(sandbox.store).table("t-d") == {}
    assert not (host_links() & {veth_names(c)[0] for c in sandbox.ids})


def test_none_and_host_modes_only_write_name_files(sandbox):
    pid = sandbox.container()
    before = host_links()
    for mode in ("none", "host"):
        ep = sandbox.connect(mode, pid, mode, hostname="box")
        assert (ep.network, ep.ip, ep.host_veth) == (mode, None, None)
        files = sandbox.root / "containers" / ep.container_id
        assert "127.0.1.1\tbox" in (files / "hosts").read_text()
        assert (files / "resolv.conf").exists()
    assert host_links() == before and endpoints(sandbox.store) == []


def test_default_bridge_is_created_on_first_use(tmp_path):
    """The default network, but on a test bridge and subnet (so the real mc0 is not touched)."""
    tag = uuid.uuid4().hex[:6]
    store = N.NetworkStore(tmp_path, default_subnet="10.213.6.0/24", default_bridge=f"mct{tag}d")
    p = subprocess.Popen(["unshare", "--net", "--fork", "--kill-child", "sleep", "60"])
    try:
        time.sleep(0.2)
        pid = int(open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()[0])
        ep = N.connect(tmp_path, "dflt", "dflt", pid, store=store)
        assert (ep.network, ep.bridge, ep.ip) == ("bridge", f"mct{tag}d", "10.213.6.2")
        with pytest.raises(ConflictError, match="already connected"):
            N.connect(tmp_path, "dflt", "dflt", pid, store=store)
    finally:
        N.disconnect(tmp_path, "dflt", store=store)
        p.kill()
        p.wait()
        links.delete_bridge(f"mct{tag}d")
        from minicontainer.network.nat import Nat
        Nat(store).forget(f"mct{tag}d")        # a default network is never removed: its NAT goes by hand
    assert not {name for name in host_links() if name.startswith(f"mct{tag}")}


def test_network_rm_is_refused_while_in_use(sandbox):
    net = sandbox.network("t-r", "10.213.7.0/24")
    ep = sandbox.connect("r", sandbox.container(), "t-r")
    with pytest.raises(ConflictError, match="in use"):
        N.remove_network(sandbox.root, "t-r")
    assert links.bridge_exists(net.bridge)
    N.disconnect(sandbox.root, ep.container_id)
    N.remove_network(sandbox.root, "t-r")
    assert not links.bridge_exists(net.bridge)
    with pytest.raises(NotFoundError):
        sandbox.store.inspect("t-r")


def test_disconnect_cleans_up_and_is_idempotent(sandbox):
    sandbox.network("t-c", "10.213.8.0/24")
    p1, p2 = sandbox.container(), sandbox.container()
    e1 = sandbox.connect("c1", p1, "t-c", ports=["127.0.0.1::80"])
    e2 = sandbox.connect("c2", p2, "t-c")
    hosts2 = sandbox.root / "containers" / e2.container_id / "hosts"
    assert e1.ip in hosts2.read_text()
    N.disconnect(sandbox.root, e1.container_id)
    assert e1.host_veth not in host_links()
    assert len(in_ns(p1, "ip", "-o", "link").stdout.splitlines()) == 1
    assert proxy_pids_of([e1.container_id]) == []
    assert Ipam(sandbox.store).table("t-c") == {e2.ip: e2.container_id}
    assert e1.ip not in hosts2.read_text()
    assert N.disconnect(sandbox.root, e1.container_id) is None


def _connect_and_die(root, cid, pid, network):
    """The 'runtime': connect with a published port, then get SIGKILLed."""
    N.connect(root, cid, cid, pid, network=network, ports=["127.0.0.1::80"])
    os.kill(os.getpid(), signal.SIGKILL)


def test_prune_after_a_killed_runtime_and_a_dead_container(sandbox):
    sandbox.network("t-k", "10.213.9.0/24")
    pid = sandbox.container()
    cid = f"{sandbox.tag}-killed"
    sandbox.ids.append(cid)
    import multiprocessing
    runtime = multiprocessing.get_context("fork").Process(target=_connect_and_die,
                                                          args=(sandbox.root, cid, pid, "t-k"))
    runtime.start()
    runtime.join(30)
    assert runtime.exitcode == -signal.SIGKILL
    [proxy] = proxy_pids_of([cid])            # the proxy outlived its runtime, as for a detached run
    assert N.prune(sandbox.root) == {"endpoints": [], "links": [], "addresses": [], "nat rules": []}   # container alive
    assert proxy_pids_of([cid]) == [proxy]
    sandbox.procs[-1].kill()                  # now the container dies too (--kill-child)
    sandbox.procs[-1].wait()
    deadline = time.monotonic() + 5
    while process_start(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    removed = N.prune(sandbox.root)
    assert removed["endpoints"] == [cid]
    assert proxy_pids_of([cid]) == [] and endpoints(sandbox.store) == []
    assert Ipam(sandbox.store).table("t-k") == {}
    assert veth_names(cid)[0] not in host_links()


def test_fifty_concurrent_connects_get_distinct_addresses(sandbox):
    sandbox.network("t-many", "10.213.10.0/24")
    pids = [sandbox.container() for _ in range(50)]
    barrier = threading.Barrier(50)
    results, errors = {}, []

    def one(i):
        try:
            barrier.wait(30)
            results[i] = sandbox.connect(f"m{i}", pids[i], "t-many")
        except Exception as err:  # collected and reported below
            errors.append(err)

    sandbox.ids.extend(f"{sandbox.tag}-m{i}" for i in range(50))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    ips = [ep.ip for ep in results.values()]
    assert len(ips) == 50 and len(set(ips)) == 50
    assert set(Ipam(sandbox.store).table("t-many")) == set(ips)
    for i in (0, 25, 49):
        assert f"{results[i].ip}/24" in in_ns(pids[i], "ip", "-4", "-o", "addr").stdout
    assert ping(pids[0], results[49].ip)
    for ep in results.values():
        N.disconnect(sandbox.root, ep.container_id)
    assert Ipam(sandbox.store).table("t-many") == {}
    assert not (host_links() & {ep.host_veth for ep in results.values()})


@pytest.fixture
def two_roots(tmp_path):
    """Two state roots whose networks share one bridge, as every root's default network
    shares mc0 (here a test bridge, so the real mc0 is not touched)."""
    a, b = Sandbox(tmp_path / "a"), Sandbox(tmp_path / "b")
    try:
        net = a.network("t-share", "10.213.21.0/24")
        b.store.create("t-share", "10.213.21.0/24", bridge=net.bridge)
        b.names.append("t-share")              # so b.close() removes it, and its hold on the NAT rules
        yield a, b
    finally:
        b.close()
        a.close()
        leftover = host_links() & {veth_names(cid)[0] for cid in a.ids + b.ids}
        assert not leftover, f"interfaces left behind: {leftover}"


def test_two_roots_on_one_bridge_get_different_addresses_and_reach_each_other(two_roots):
    a, b = two_roots
    pid_a, pid_b = a.container(), b.container()
    ep_a = a.connect("c1", pid_a, "t-share")
    ep_b = b.connect("c1", pid_b, "t-share")
    assert ep_a.ip != ep_b.ip                               # one table per bridge, not per state root
    assert Ipam(a.store).table("t-share") == {ep_a.ip: ep_a.container_id}
    assert Ipam(b.store).table("t-share") == {ep_b.ip: ep_b.container_id}
    assert ping(pid_a, ep_b.ip) and ping(pid_b, ep_a.ip)
    N.disconnect(b.root, ep_b.container_id)
    assert Ipam(a.store).table("t-share") == {ep_a.ip: ep_a.container_id}


def test_prune_never_touches_another_roots_veth_on_a_shared_bridge(two_roots):
    a, b = two_roots
    ep_a = a.connect("c1", a.container(), "t-share")
    ep_b = b.connect("c1", b.container(), "t-share")
    assert {ep_a.host_veth, ep_b.host_veth} <= set(links.links_on(ep_a.bridge))
    for box in (a, b):
        ids = {cid for cid in box.ids}
        assert N.prune(box.root, container_ids=ids)["links"] == []
    assert {ep_a.host_veth, ep_b.host_veth} <= set(links.links_on(ep_a.bridge))
    (b.root / "networks" / "endpoints" / f"{ep_b.container_id}.json").unlink()   # b's record is lost
    assert N.prune(a.root, container_ids=set(a.ids))["links"] == []                # not a's to remove
    assert ep_b.host_veth in links.links_on(ep_a.bridge)
    assert N.prune(b.root, container_ids=set(b.ids))["links"] == [ep_b.host_veth]  # b's own orphan: gone
    assert set(links.links_on(ep_a.bridge)) == {ep_a.host_veth}

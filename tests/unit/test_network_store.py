"""Network records, subnet choice and overlap, IPAM, veth names, hosts files (no root)."""

import ipaddress
import json
import multiprocessing
import os
import shutil

import pytest

from minicontainer.errors import ConflictError, NetworkError, NotFoundError, UsageError
from minicontainer.network.endpoint import Endpoint, rewrite_hosts, save, veth_names
from minicontainer.network.hosts import hosts_text, resolv_text, write_in_place
from minicontainer.network.ipam import Ipam
from minicontainer.network.store import NetworkStore, bridge_name_for, host_routes


def fake_proc(tmp_path, routes=()):
    """A fake /proc with a net/route table: routes are (device, 'a.b.c.d/len')."""
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    lines = ["Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT"]
    lines.append("eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0")   # default route: ignored
    for dev, cidr in routes:
        net = ipaddress.ip_network(cidr)
        le = lambda a: int.from_bytes(a.packed, "little")  # noqa: E731
        lines.append(f"{dev}\t{le(net.network_address):08X}\t00000000\t0001\t0\t0\t0\t{le(net.netmask):08X}\t0\t0\t0")
    (proc / "net" / "route").write_text("\n".join(lines) + "\n")
    return proc


@pytest.fixture
def store(tmp_path):
    return NetworkStore(tmp_path / "state", proc_root=fake_proc(tmp_path, [("eth0", "192.0.2.0/24")]))


def test_host_routes_are_read_from_proc(tmp_path):
    proc = fake_proc(tmp_path, [("eth0", "192.168.0.0/16"), ("wg0", "10.89.0.0/24")])
    assert host_routes(proc) == [("eth0", ipaddress.ip_network("192.168.0.0/16")),
                                 ("wg0", ipaddress.ip_network("10.89.0.0/24"))]


def test_default_network_is_written_on_first_use(store):
    assert store.ls() == []
    net = store.inspect("bridge")
    assert (net.bridge, net.subnet, net.gateway, net.default) == ("mc0", "10.76.0.0/16", "10.76.0.1", True)
    assert json.loads((store.root / "bridge.json").read_text())["subnet"] == "10.76.0.0/16"
    assert [n.name for n in store.ls()] == ["bridge"]


def test_default_subnet_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICONTAINER_BRIDGE_SUBNET", "172.30.0.0/16")
    net = NetworkStore(tmp_path, proc_root=fake_proc(tmp_path)).inspect("bridge")
    assert (net.subnet, net.gateway) == ("172.30.0.0/16", "172.30.0.1")
    net = NetworkStore(tmp_path / "b", default_subnet="10.50.0.0/24", default_bridge="xbr0",
                       proc_root=fake_proc(tmp_path / "b")).inspect("bridge")
    assert (net.subnet, net.bridge) == ("10.50.0.0/24", "xbr0")


def test_create_picks_free_subnets_skipping_used_ones(tmp_path):
    store = NetworkStore(tmp_path / "s", proc_root=fake_proc(tmp_path, [("wg0", "10.89.0.0/24")]))
    a = store.create("a")
    b = store.create("b")
    assert (a.subnet, a.gateway, a.bridge) == ("10.89.1.0/24", "10.89.1.1", bridge_name_for("a"))
    assert b.subnet == "10.89.2.0/24"
    assert len(bridge_name_for("a" * 64)) <= 15


def test_create_refuses_overlap_duplicates_and_bad_input(store):
    store.inspect("bridge")
    store.create("web", "10.99.0.0/24")
    with pytest.raises(ConflictError, match="overlaps network web"):
        store.create("web2", "10.99.0.128/25")
    with pytest.raises(ConflictError, match="overlaps network bridge"):
        store.create("x", "10.0.0.0/8")
    with pytest.raises(ConflictError, match="overlaps the host route 192.0.2.0/24 on eth0"):
        store.create("x", "192.0.2.0/28")
    with pytest.raises(ConflictError, match="already exists"):
        store.create("web", "10.98.0.0/24")
    with pytest.raises(ConflictError, match="reserved"):
        store.create("host")
    with pytest.raises(ConflictError, match="bridge br9 is already used"):
        store.create("y", "10.97.0.0/24", bridge="br9") and store.create("z", "10.96.0.0/24", bridge="br9")
    for bad in ("10.0.0.0/33", "10.0.0.1/24", "fd00::/64", "nonsense", "10.0.0.0/30"):
        with pytest.raises(UsageError):
            store.create("q", bad)
    with pytest.raises(UsageError, match="invalid network name"):
        store.create("../etc", "10.95.0.0/24")
    with pytest.raises(UsageError, match="invalid bridge name"):
        store.create("q", "10.95.0.0/24", bridge="a-very-long-bridge-name")
    assert sorted(n.name for n in store.ls()) == ["bridge", "web", "y"]


def test_rm_refuses_default_unknown_and_in_use(store):
    store.create("web", "10.99.0.0/24")
    with pytest.raises(ConflictError, match="default network"):
        store.rm("bridge")
    with pytest.raises(NotFoundError):
        store.rm("nope")
    with pytest.raises(ConflictError, match="in use by 1 container"):
        store.rm("web", in_use=["c1"])
    store.rm("web")
    with pytest.raises(NotFoundError):
        store.inspect("web")


def test_ipam_hands_out_lowest_free_and_releases(store):
    net = store.create("small", "10.77.0.0/29")          # hosts .1-.6, .1 is the gateway
    ipam = Ipam(store)
    with store.lock():
        got = [str(ipam.allocate(net, f"c{i}")) for i in range(5)]
        assert got == [f"10.77.0.{i}" for i in range(2, 7)]
        assert str(ipam.allocate(net, "c0")) == "10.77.0.2"      # same container, same address
        with pytest.raises(NetworkError, match="no free address"):
            ipam.allocate(net, "c5")
        assert ipam.release("small", "c1") == ["10.77.0.3"]
        assert ipam.release("small", "c1") == []
        assert str(ipam.allocate(net, "c5")) == "10.77.0.3"
        with pytest.raises(NetworkError, match="not usable"):
            ipam.allocate(net, "c9", wanted="10.77.0.1")
        assert ipam.owners("small") == {"c0", "c2", "c3", "c4", "c5"}


def _allocate_many(args):
    state, proc, cid = args
    store = NetworkStore(state, proc_root=proc)
    net = store.inspect("busy")
    with store.lock():
        return str(Ipam(store).allocate(net, cid))


def test_ipam_has_no_duplicates_under_50_concurrent_processes(tmp_path):
    proc = fake_proc(tmp_path)
    NetworkStore(tmp_path / "state", proc_root=proc).create("busy", "10.66.0.0/24")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(50) as pool:
        got = pool.map(_allocate_many, [(tmp_path / "state", proc, f"c{i}") for i in range(50)], chunksize=1)
    assert len(set(got)) == 50
    table = Ipam(NetworkStore(tmp_path / "state", proc_root=proc)).table("busy")
    assert sorted(table.values(), key=lambda c: int(c[1:])) == [f"c{i}" for i in range(50)]
    assert set(table) == set(got)


def test_veth_names_are_stable_short_and_distinct():
    host, peer = veth_names("f" * 64)
    assert (len(host), len(peer)) == (15, 15) and host.startswith("mcv") and peer.startswith("mcp")
    assert veth_names("f" * 64) == (host, peer)
    assert veth_names("a")[0] != veth_names("b")[0]


def test_hosts_text_lists_self_then_peers():
    text = hosts_text([("10.76.0.2", ["web", "web", "c1"])], [("10.76.0.10", ["db"]), ("10.76.0.3", ["cache"])])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.76.0.2\tweb c1" in lines
    assert lines[-2:] == ["10.76.0.3\tcache", "10.76.0.10\tdb"]


def test_resolv_conf_drops_loopback_nameservers():
    text = resolv_text("search example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n")
    assert "nameserver 192.0.2.53" in text and "search example.org" in text
    assert "127.0.0.53" not in text.split("#")[0] and "nameserver ::1" not in text


def test_hosts_rewritten_in_place_for_every_member(store, tmp_path):
    dirs = {}
    for i, (cid, ip) in enumerate([("c1", "10.76.0.2"), ("c2", "10.76.0.3")]):
        dirs[cid] = tmp_path / cid
        dirs[cid].mkdir()
        save(store, Endpoint(container_id=cid, network="bridge", name=f"n{i}", hostname=cid, ip=ip,
                             prefix=16, files_dir=str(dirs[cid])))
    hosts1 = dirs["c1"] / "hosts"
    write_in_place(hosts1, "old content that is much longer than what comes next\n" * 20)
    inode = os.stat(hosts1).st_ino
    with store.lock():
        rewrite_hosts(store, "bridge")
    assert os.stat(hosts1).st_ino == inode           # same file: a bind mount still shows it
    assert "10.76.0.3\tn1 c2" in hosts1.read_text() and "old content" not in hosts1.read_text()
    assert "10.76.0.2\tn0 c1" in (dirs["c2"] / "hosts").read_text()


def test_ipam_is_per_bridge_so_two_state_roots_never_share_an_address(tmp_path):
    proc = fake_proc(tmp_path)
    a = NetworkStore(tmp_path / "a", proc_root=proc)
    b = NetworkStore(tmp_path / "b", proc_root=proc)
    net_a = a.inspect("bridge")                           # both default networks: the bridge mc0
    net_b = b.inspect("bridge")
    assert net_a.bridge == net_b.bridge == "mc0"
    with a.lock():
        ip_a = Ipam(a).allocate(net_a, "c1")
    with b.lock():
        ip_b = Ipam(b).allocate(net_b, "c1")              # the same container id, in another root
    assert str(ip_a) == "10.76.0.2" and str(ip_b) == "10.76.0.3"
    assert Ipam(a).table("bridge") == {"10.76.0.2": "c1"} and Ipam(b).table("bridge") == {"10.76.0.3": "c1"}
    with b.lock():
        assert Ipam(b).release("bridge", "c1") == ["10.76.0.3"]
    assert Ipam(a).owners("bridge") == {"c1"}             # b's release left a's entry alone
    shutil.rmtree(tmp_path / "a")                          # a state root that is gone has no containers
    with b.lock():
        assert str(Ipam(b).allocate(net_b, "c2")) == "10.76.0.2"
    table = json.loads((tmp_path / "run" / "ipam" / "mc0.json").read_text())
    assert table == {"10.76.0.2": {"root": str(tmp_path / "b"), "id": "c2"}}


def test_a_damaged_address_table_is_an_error_not_an_empty_one(tmp_path):
    proc = fake_proc(tmp_path)
    store = NetworkStore(tmp_path / "a", proc_root=proc)
    net = store.inspect("bridge")
    (tmp_path / "run" / "ipam").mkdir(parents=True)
    (tmp_path / "run" / "ipam" / "mc0.json").write_text("[1, 2]")
    with store.lock(), pytest.raises(NetworkError, match="not a JSON object"):
        Ipam(store).allocate(net, "c1")

"""Outbound NAT on the real kernel: rules appear with a network and go with it (also after a
failed create), a container reaches the host's own package archive (the only outside address
these tests ever contact), an --internal network reaches nothing, and two networks cannot
reach each other."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from minicontainer import network
from minicontainer.errors import NetworkError
from minicontainer.images.debian import host_sources
from minicontainer.network.links import bridge_exists
from minicontainer.network.nft import TABLE
from minicontainer.network.runner import Runner
from minicontainer.network.store import bridge_name_for

pytestmark = pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed "
                                "(scripts/install-system-deps.sh installs nftables)")


def archive_address() -> str:
    """The IPv4 address of the package archive this host's apt uses (read now, never stored)."""
    uri = host_sources()[0].split("]")[-1].split()[0]
    host = urlsplit(uri).hostname
    assert host, "cannot read the archive's host name from the host's apt sources"
    return socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]


def our_rules(bridge: str | None = None) -> list[dict]:
    """Rules of table ip minicontainer in ``nft -j list ruleset`` (those of ``bridge`` if given)."""
    out = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    rules = [i["rule"] for i in json.loads(out)["nftables"]
             if "rule" in i and i["rule"]["table"] == TABLE and i["rule"]["family"] == "ip"]
    return [r for r in rules if bridge is None or r.get("comment") == f"minicontainer:{bridge}"]


def table_exists() -> bool:
    out = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return any(i.get("table", {}).get("name") == TABLE for i in json.loads(out)["nftables"])


def mc(cli, root, *args, check=True, timeout=60):
    res = subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, res.stderr
    return res


@pytest.fixture
def netname():
    return f"nat{uuid.uuid4().hex[:8]}"


def test_rules_come_with_the_network_and_go_with_it(state_root, netname):
    net = network.create_network(state_root, netname)
    try:
        rules = our_rules(net.bridge)
        chains = sorted(r["chain"] for r in rules)
        assert chains == ["forward", "forward", "postrouting"], rules
        masq = [r for r in rules if r["chain"] == "postrouting"][0]
        assert any("masquerade" in e for e in masq["expr"])
        assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"
    finally:
        network.remove_network(state_root, netname)
    assert our_rules(net.bridge) == []
    assert table_exists() == bool(our_rules())       # the table goes with the last bridge's rules


def test_a_failed_create_leaves_nothing(state_root, netname):
    before = our_rules()

    class Broken(Runner):
        """The real nft, with one bad line in each script: the kernel rejects the whole transaction."""

        def run(self, argv, stdin=None, *, check=True):
            if stdin:
                stdin += "add rule ip minicontainer no-such-chain accept\n"
            return super().run(argv, stdin, check=check)

    with pytest.raises(NetworkError, match="no such file or directory"):
        network.create_network(state_root, netname, runner=Broken())
    store = network.NetworkStore(state_root)
    assert [n.name for n in store.ls() if n.name == netname] == []
    bridge = bridge_name_for(netname)
    assert our_rules(bridge) == [] and not (store.run_root / "nat" / f"{bridge}.json").exists()
    assert not bridge_exists(bridge)
    assert our_rules() == before          # the other networks' rules are as they were


def test_container_reaches_the_hosts_archive_and_internal_does_not(cli, state_root, netname):
    addr = archive_address()
    mc(cli, state_root, "network", "create", netname)
    mc(cli, state_root, "network", "create", "--internal", netname + "i")
    try:
        out = mc(cli, state_root, "run", "--rm", "--network", netname, "busybox", "sh", "-c",
                 f"cat /etc/resolv.conf; nc -w 10 {addr} 80 </dev/null && echo REACHED").stdout
        assert "REACHED" in out
        host_ns = [ln.split()[1] for ln in open("/etc/resolv.conf") if ln.startswith("nameserver")
                   and not ln.split()[1].startswith("127.")]
        assert all(f"nameserver {ns}" in out for ns in host_ns)
        internal = network.NetworkStore(state_root).inspect(netname + "i")
        assert [r["chain"] for r in our_rules(internal.bridge)] == ["forward", "forward"]
        res = mc(cli, state_root, "run", "--rm", "--network", netname + "i", "busybox", "sh", "-c",
                 f"nc -w 3 {addr} 80 </dev/null && echo REACHED", check=False)
        assert "REACHED" not in res.stdout
    finally:
        mc(cli, state_root, "network", "rm", netname, netname + "i", check=False)
    assert our_rules(bridge_name_for(netname)) == [] and our_rules(bridge_name_for(netname + "i")) == []


def test_no_forwarding_between_two_networks(cli, state_root, netname):
    a, b = netname + "a", netname + "b"
    mc(cli, state_root, "network", "create", a)
    mc(cli, state_root, "network", "create", b)
    try:
        mc(cli, state_root, "run", "-d", "--name", "web", "--network", b, "busybox",
           "httpd", "-f", "-p", "8080", "-h", "/etc")
        ip = json.loads(mc(cli, state_root, "network", "inspect", b).stdout)[0]["containers"]
        ip = next(iter(ip.values()))["ip"].split("/")[0]
        same = mc(cli, state_root, "run", "--rm", "--network", b, "busybox", "sh", "-c",
                  f"nc -w 5 {ip} 8080 </dev/null && echo REACHED", check=False)
        assert "REACHED" in same.stdout, same.stderr
        other = mc(cli, state_root, "run", "--rm", "--network", a, "busybox", "sh", "-c",
                   f"nc -w 3 {ip} 8080 </dev/null && echo REACHED", check=False)
        assert "REACHED" not in other.stdout
    finally:
        mc(cli, state_root, "rm", "-f", "web", check=False)
        mc(cli, state_root, "network", "rm", a, b, check=False)

"""`run` wired to the network package: modes, names, isolation, published ports, IPAM, cleanup.

Only interfaces and namespaces these tests create, and 127.0.0.1, are ever used. Other
work may run containers on the shared default bridge (mc0) at the same time, so the leak
checks look only at what *this* test made: its state root's network records, the host
veths derived from its container ids (or the peer ifindex a container reported), the
proxies naming its containers, and the bridges of the networks it created. Addresses on mc0
come from one host-wide table per bridge, shared with every other state root, so a test never
assumes which address its container gets there.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from census import container_dirs
from minicontainer.network import veth_names
from minicontainer.network.links import bridge_exists, links_on


def mc(cli, root, *args, timeout=60, **kw):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout, **kw)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port, path="/", tries=50):
    """GET http://127.0.0.1:PORT/PATH, retrying while the server in the container starts."""
    for _ in range(tries):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read().decode()
        except OSError:
            time.sleep(0.1)
    return None


def port_is_free(port):
    """Nothing listens on 127.0.0.1:PORT any more (SO_REUSEADDR: a TIME_WAIT left by the
    proxy's last connection does not count, a listening socket does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def host_ifindexes():
    return {index for index, _ in socket.if_nameindex()}


def host_links():
    return {name for _, name in socket.if_nameindex()}


def proxies_of(ids):
    """PIDs of live port proxies whose command line names one of the container ids."""
    wanted = {i.encode() for i in ids}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(a.endswith(b"/proxy.py") for a in argv) and wanted & set(argv):
            found.append(int(entry))
    return found


def network_leftovers(root, ids=()):
    """What the network package still holds for this state root (all empty when clean)."""
    nets = Path(root) / "networks"
    records = sorted(p.stem for p in (nets / "endpoints").glob("*.json"))
    addresses = {p.stem: json.loads(p.read_text()) for p in (nets / "ipam").glob("*.json")}
    return {"records": records, "addresses": {k: v for k, v in addresses.items() if v},
            "veths": sorted(veth_names(i)[0] for i in ids if veth_names(i)[0] in host_links()),
            "proxies": proxies_of(ids)}


CLEAN = {"records": [], "addresses": {}, "veths": [], "proxies": []}


def ip_of(cli, root, ref):
    out = mc(cli, root, "inspect", "--type", "container", ref)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]["NetworkSettings"]["IPAddress"]


@pytest.fixture
def make_network(cli, state_root):
    """Create uniquely named user networks; remove their containers and them afterwards."""
    made = []

    def make(*extra):
        name = f"t{uuid.uuid4().hex[:10]}"
        res = mc(cli, state_root, "network", "create", *extra, name)
        assert res.returncode == 0, res.stderr
        info = json.loads(mc(cli, state_root, "network", "inspect", name).stdout)[0]
        made.append(info)
        return info

    yield make
    ids = mc(cli, state_root, "ps", "-aq", "--no-trunc").stdout.split()
    if ids:
        mc(cli, state_root, "rm", "-f", *ids)
    problems = []
    for info in made:   # remove every network first, complain afterwards
        if links_on(info["bridge"]):
            problems.append(f"veths left on {info['bridge']}: {links_on(info['bridge'])}")
        mc(cli, state_root, "network", "rm", info["name"])
        if bridge_exists(info["bridge"]):
            problems.append(f"bridge {info['bridge']} left behind")
    assert problems == []


# -- the three modes -------------------------------------------------------------

def test_bridge_gives_eth0_with_an_address_and_a_route(cli, state_root):
    res = mc(cli, state_root, "run", "--rm", "busybox", "sh", "-c",
             "ip -4 -o addr show eth0; ip route; ip -o link show eth0")
    assert res.returncode == 0, res.stderr
    assert "inet 10.76." in res.stdout and "default via 10.76.0.1" in res.stdout
    peer = int(res.stdout.split("eth0@if")[1].split(":")[0])   # the host end's ifindex
    assert peer not in host_ifindexes()                         # gone with the container
    assert network_leftovers(state_root) == CLEAN


def test_none_has_only_a_loopback_that_is_up(cli, state_root):
    res = mc(cli, state_root, "run", "--rm", "--network", "none", "busybox", "sh", "-c",
             "ls /sys/class/net; echo --; ip -o addr show lo; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo lo-works")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("--\n")[0].split() == ["lo"]      # the namespace's only device
    assert "inet 127.0.0.1/8" in res.stdout and res.stdout.rstrip().endswith("lo-works")
    assert network_leftovers(state_root) == CLEAN


def test_host_network_shares_the_hosts_interfaces(cli, state_root):
    res = mc(cli, state_root, "run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    assert res.returncode == 0, res.stderr
    inside = {line.split(":")[0].strip() for line in res.stdout.splitlines() if ":" in line}
    outside = {line.split(":")[0].strip() for line in open("/proc/net/dev") if ":" in line}
    # other work may add or remove veths meanwhile; the host's own devices must all be there
    stable = {name for name in outside if not name.startswith("mcv")}
    assert stable <= inside and "lo" in inside
    assert network_leftovers(state_root) == CLEAN


# -- names and isolation -----------------------------------------------------------

NC_GET = ("for i in $(seq 30); do printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port} && exit 0; "
          "sleep 0.2; done; exit 1")  # busybox-static's wget crashes in Debian 12 (even on the host): nc


def test_two_containers_reach_each_other_by_name(cli, state_root, make_network):
    net = make_network()
    web = mc(cli, state_root, "run", "-d", "--name", "web", "--network", net["name"], "busybox", "sh", "-c",
             "echo hello-from-web > /www; httpd -f -p 8080 -h /")
    assert web.returncode == 0, web.stderr
    res = mc(cli, state_root, "run", "--rm", "--name", "client", "--network", net["name"], "busybox", "sh", "-c",
             "grep -w web /etc/hosts; " + NC_GET.format(path="/www", host="web", port=8080))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[0] == ip_of(cli, state_root, "web")   # /etc/hosts names the peer's address
    assert lines[1].startswith("HTTP/1.") and res.stdout.rstrip().endswith("hello-from-web")


def test_containers_on_different_networks_cannot_talk(cli, state_root, make_network):
    home, other = make_network(), make_network()
    web = mc(cli, state_root, "run", "-d", "--name", "web2", "--network", home["name"], "busybox", "sh", "-c",
             "echo reachable > /index.html; httpd -f -p 8080 -h /")
    assert web.returncode == 0, web.stderr
    addr = ip_of(cli, state_root, "web2")
    # control: from the same network the server answers ...
    same = mc(cli, state_root, "run", "--rm", "--network", home["name"], "busybox", "sh", "-c",
              NC_GET.format(path="/", host=addr, port=8080))
    assert same.returncode == 0 and same.stdout.rstrip().endswith("reachable"), same.stderr
    # ... from another network it does not, neither by address nor by name
    res = mc(cli, state_root, "run", "--rm", "--network", other["name"], "busybox", "sh", "-c",
             f"ip -4 -o addr show eth0; grep -cw web2 /etc/hosts;"
             f" printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {addr} 8080; echo rc=$?")
    assert other["subnet"].rsplit(".", 1)[0] in res.stdout
    assert "HTTP/1." not in res.stdout and "rc=0" not in res.stdout
    assert "\n0\n" in res.stdout                                   # web2 is not in its /etc/hosts


# -- published ports ---------------------------------------------------------------

def test_published_port_reaches_httpd_from_loopback(cli, state_root):
    port = free_port()
    res = mc(cli, state_root, "run", "-d", "--name", "pub", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
             "mkdir /www && echo published > /www/index.html && httpd -f -p 80 -h /www")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    try:
        assert fetch(port) == "published\n"
        assert mc(cli, state_root, "port", "pub").stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
    finally:
        mc(cli, state_root, "rm", "-f", "pub")
    assert network_leftovers(state_root, [cid]) == CLEAN
    assert port_is_free(port)   # the proxy is gone


UDP_ECHO = r"""
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {            /* answer every datagram with "echo:" + it */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {0};
    me.sin_family = AF_INET;
    me.sin_port = htons(atoi(argv[1]));
    if (s < 0 || bind(s, (struct sockaddr *)&me, sizeof me) < 0) return 1;
    for (;;) {
        char buf[1500] = "echo:";
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&from, &len);
        if (n < 0) return 2;
        sendto(s, buf, n + 5, 0, (struct sockaddr *)&from, len);
    }
}
"""


@pytest.fixture(scope="module")
def udp_echo_dir(tmp_path_factory):
    """A static UDP echo server (Debian's busybox nc has no -u), bind-mounted into the container."""
    d = tmp_path_factory.mktemp("udpecho")
    (d / "udpecho.c").write_text(UDP_ECHO)
    try:
        subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "udpecho"), str(d / "udpecho.c")],
                       check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"cannot build the static udp echo server with gcc: {err}")
    return d


def test_published_udp_port_answers(cli, state_root, udp_echo_dir, make_network):
    port = free_port(socket.SOCK_DGRAM)
    res = mc(cli, state_root, "run", "-d", "--name", "udp", "--network", make_network()["name"],
             "-v", f"{udp_echo_dir}:/opt/t:ro",
             "-p", f"127.0.0.1:{port}:5353/udp", "busybox", "/opt/t/udpecho", "5353")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    try:
        assert mc(cli, state_root, "port", "udp").stdout.strip() == f"5353/udp -> 127.0.0.1:{port}"
        reply = None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            for i in range(40):   # a datagram sent before the server bound its port is lost: resend
                s.sendto(f"hello-{i}".encode(), ("127.0.0.1", port))
                try:
                    reply = s.recv(1500).decode()
                    break
                except OSError:
                    continue
        assert reply is not None and reply.startswith("echo:hello-")
    finally:
        mc(cli, state_root, "rm", "-f", "udp")
    assert network_leftovers(state_root, [cid]) == CLEAN


def test_publish_all_maps_the_images_exposed_ports(cli, state_root, make_network):
    import copy

    from minicontainer.images.store import ImageStore
    store = ImageStore(state_root)
    base = store.resolve("busybox")
    cfg = copy.deepcopy(base.raw)
    cfg["config"]["ExposedPorts"] = {"80/tcp": {}}
    store.add_image(cfg, ["exposed:latest"], size=base.size)
    res = mc(cli, state_root, "run", "-d", "--name", "pa", "--network", make_network()["name"], "-P", "exposed",
             "sh", "-c",
             "mkdir /w && echo exposed > /w/index.html && httpd -f -p 80 -h /w")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    try:
        line = mc(cli, state_root, "port", "pa").stdout.strip()
        assert line.startswith("80/tcp -> 127.0.0.1:"), line
        assert fetch(int(line.rsplit(":", 1)[1])) == "exposed\n"
    finally:
        mc(cli, state_root, "rm", "-f", "pa")
    assert network_leftovers(state_root, [cid]) == CLEAN


def test_port_in_use_is_a_clear_error_and_leaves_nothing(cli, state_root):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = mc(cli, state_root, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert res.returncode == 125
    assert str(port) in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert container_dirs(state_root) == [] and network_leftovers(state_root) == CLEAN


# -- IPAM and cleanup --------------------------------------------------------------

def test_twenty_parallel_starts_get_distinct_addresses(cli, state_root, make_network):
    net = make_network()
    with ThreadPoolExecutor(max_workers=20) as pool:
        runs = list(pool.map(lambda i: mc(cli, state_root, "run", "-d", "--network", net["name"], "busybox", "sh",
                                          "-c", "ip -4 -o addr show eth0; exec sleep 300", timeout=240),
                             range(20)))
    assert [r.returncode for r in runs] == [0] * 20, [r.stderr for r in runs if r.returncode]
    ids = [r.stdout.strip() for r in runs]
    recorded = [ip_of(cli, state_root, cid) for cid in ids]
    assert len(set(recorded)) == 20
    prefix = net["subnet"].rsplit(".", 1)[0] + "."
    assert all(ip.startswith(prefix) and ip != net["gateway"] for ip in recorded)
    for cid, ip in zip(ids, recorded):   # the kernel has the address the records say
        for _ in range(50):
            log = mc(cli, state_root, "logs", cid).stdout
            if "inet" in log:
                break
            time.sleep(0.1)
        assert f"inet {ip}/" in log
    assert len(links_on(net["bridge"])) == 20
    assert mc(cli, state_root, "rm", "-f", *ids, timeout=120).returncode == 0
    assert network_leftovers(state_root, ids) == CLEAN and links_on(net["bridge"]) == []


def test_normal_exit_releases_the_network_but_keeps_the_container(cli, state_root):
    res = mc(cli, state_root, "run", "--name", "once", "-p", f"127.0.0.1:{free_port()}:80", "busybox", "true")
    assert res.returncode == 0, res.stderr
    ids = mc(cli, state_root, "ps", "-aq", "--no-trunc").stdout.split()
    assert len(ids) == 1
    assert network_leftovers(state_root, ids) == CLEAN
    assert mc(cli, state_root, "rm", "once").returncode == 0


@pytest.mark.parametrize("cleanup", [["network", "prune"], ["rm", "-f", "victim"]])
def test_a_killed_runtime_leaves_nothing_after_cleanup(cli, state_root, cleanup, make_network):
    port, net = free_port(), make_network()
    run = subprocess.Popen([cli, "--root", str(state_root), "run", "--name", "victim", "--network", net["name"],
                            "-p", f"127.0.0.1:{port}:80",
                            "busybox", "sh", "-c", "mkdir /w && echo up > /w/index.html && exec httpd -f -p 80 -h /w"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert fetch(port) == "up\n"
        ids = mc(cli, state_root, "ps", "-aq", "--no-trunc").stdout.split()
        assert len(ids) == 1 and len(proxies_of(ids)) == 1
        run.send_signal(signal.SIGKILL)          # no cleanup code of the runtime can run
        run.wait(timeout=10)
        assert len(proxies_of(ids)) == 1         # the proxy is a separate process: it outlives the runtime
        res = mc(cli, state_root, *cleanup)
        assert res.returncode == 0, res.stderr
        assert network_leftovers(state_root, ids) == CLEAN and links_on(net["bridge"]) == []
        assert port_is_free(port)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        mc(cli, state_root, "rm", "-f", "victim")


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["-p", "99999:80"], "out of range"),
    (["-p", "8080:0"], "out of range"),
    (["-p", "not-a-port"], "invalid"),
    (["-p", "8080:80/sctp"], "protocol"),
    (["-p", "1.2.3:8080:80"], "host address"),
    (["--network", "nosuchnet"], "nosuchnet"),
    (["--network", "none", "-p", "8080:80"], "bridge"),
])
def test_bad_network_input(cli, state_root, args, message):
    res = mc(cli, state_root, "run", "--rm", *args, "busybox", "true")
    assert res.returncode == 125
    assert message in res.stderr.lower() and len(res.stderr.strip().splitlines()) == 1
    assert container_dirs(state_root) == [] and network_leftovers(state_root) == CLEAN


def test_overlapping_subnet_is_refused_and_nothing_is_recorded(cli, state_root, make_network):
    net = make_network()
    for subnet in (net["subnet"], net["subnet"].rsplit(".", 1)[0] + ".128/25", "10.76.7.0/24"):
        res = mc(cli, state_root, "network", "create", "--subnet", subnet, "overlapper")
        assert res.returncode == 125 and "overlaps" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    res = mc(cli, state_root, "network", "create", "--subnet", "10.231.0.5/24", "overlapper")
    assert res.returncode == 125 and "host bits" in res.stderr
    assert "overlapper" not in mc(cli, state_root, "network", "ls", "-q").stdout.split()


def test_a_network_in_use_cannot_be_removed(cli, state_root, make_network):
    net = make_network()
    res = mc(cli, state_root, "run", "-d", "--name", "user", "--network", net["name"], "busybox", "sleep", "300")
    assert res.returncode == 0, res.stderr
    refused = mc(cli, state_root, "network", "rm", net["name"])
    assert refused.returncode != 0 and "in use" in refused.stderr and "user" in refused.stderr
    assert bridge_exists(net["bridge"])

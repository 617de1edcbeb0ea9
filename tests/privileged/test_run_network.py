"""`run` wired to the network package: bridge, names, published ports, host mode, cleanup.

Only interfaces and namespaces these tests create, and 127.0.0.1, are ever used.
"""

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from census import container_dirs


def mc(cli, root, *args, timeout=60, **kw):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def veths():
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": mcv" in line]


def test_bridge_gives_eth0_with_an_address_and_a_route(cli, state_root):
    res = mc(cli, state_root, "run", "--rm", "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route")
    assert res.returncode == 0, res.stderr
    assert "inet 10.88." in res.stdout and "default via 10.88.0.1" in res.stdout
    assert veths() == []


def test_two_containers_reach_each_other_by_name(cli, state_root):
    web = mc(cli, state_root, "run", "-d", "--name", "web", "busybox", "sh", "-c",
             "echo hello-from-web > /www; httpd -f -p 8080 -h /")
    assert web.returncode == 0, web.stderr
    try:
        res = mc(cli, state_root, "run", "--rm", "--name", "client", "busybox", "sh", "-c",
                 # busybox-static's wget crashes in Debian 12 (even on the host): speak HTTP with nc
                 "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET /www HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 8080"
                 " && exit 0; sleep 0.2; done; exit 1")
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[0].startswith("HTTP/1.") and res.stdout.rstrip().endswith("hello-from-web")
    finally:
        mc(cli, state_root, "rm", "-f", "web")
    assert veths() == []


def test_containers_on_different_networks_cannot_talk(cli, state_root):
    assert mc(cli, state_root, "network", "create", "--subnet", "10.231.7.0/24", "isolated").returncode == 0
    try:
        web = mc(cli, state_root, "run", "-d", "--name", "web2", "busybox", "sh", "-c", "httpd -f -p 8080 -h /")
        assert web.returncode == 0, web.stderr
        ip = mc(cli, state_root, "run", "--rm", "--network", "isolated", "busybox", "sh", "-c",
                "ip -4 -o addr show eth0").stdout
        assert "10.231.7." in ip
        ep = json.loads(mc(cli, state_root, "inspect", "--type", "container", "web2").stdout)
        addr = ep[0]["NetworkSettings"]["IPAddress"]
        res = mc(cli, state_root, "run", "--rm", "--network", "isolated", "busybox", "sh", "-c",
                 f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 {addr} 8080")
        assert "HTTP/1." not in res.stdout
    finally:
        mc(cli, state_root, "rm", "-f", "web2")
        mc(cli, state_root, "network", "rm", "isolated")


def test_published_port_reaches_httpd_from_loopback(cli, state_root):
    port = free_port()
    res = mc(cli, state_root, "run", "-d", "--name", "pub", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
             "mkdir /www && echo published > /www/index.html && httpd -f -p 80 -h /www")
    assert res.returncode == 0, res.stderr
    try:
        body = None
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body == "published\n"
    finally:
        mc(cli, state_root, "rm", "-f", "pub")
    assert veths() == []
    with socket.socket() as s:  # the proxy is gone: the port is free again
        s.bind(("127.0.0.1", port))


def test_port_in_use_is_a_clear_error_and_leaves_nothing(cli, state_root):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = mc(cli, state_root, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert res.returncode == 125
    assert str(port) in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert container_dirs(state_root) == [] and veths() == []


@pytest.mark.parametrize("args, message", [
    (["-p", "99999:80"], "port"),
    (["-p", "not-a-port"], "invalid"),
    (["--network", "nosuchnet"], "nosuchnet"),
    (["--network", "none", "-p", "8080:80"], "bridge"),
])
def test_bad_network_input(cli, state_root, args, message):
    res = mc(cli, state_root, "run", "--rm", *args, "busybox", "true")
    assert res.returncode == 125
    assert message in res.stderr.lower() and len(res.stderr.strip().splitlines()) == 1
    assert container_dirs(state_root) == []


def test_host_network_shares_the_hosts_interfaces(cli, state_root):
    res = mc(cli, state_root, "run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    inside = sorted(line.split(":")[0].strip() for line in res.stdout.splitlines() if ":" in line)
    outside = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev") if ":" in line)
    assert inside == outside

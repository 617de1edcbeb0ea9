"""The port proxy program, against echo servers on 127.0.0.1 (no root, no namespaces)."""

import os
import socket
import threading

import pytest

from minicontainer.network import proxies
from minicontainer.network.ports import bind_all, parse_publish


@pytest.fixture
def tcp_echo():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)              # close() does not wake accept(): poll the stop flag instead
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(10)
            with conn:
                data = b""
                while chunk := conn.recv(65536):   # read until the client shuts down its side
                    data += chunk
                conn.sendall(b"echo:" + data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()


@pytest.fixture
def udp_echo():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, addr = srv.recvfrom(65536)
            except OSError:
                continue
            srv.sendto(b"echo:" + data, addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()


@pytest.fixture
def started():
    pids = []
    try:
        yield pids
    finally:
        for pid in pids:
            proxies.stop(pid, "test-proxy")


def _start(spec, started):
    [(sock, mapping)] = bind_all([parse_publish(spec)])
    try:
        started.append(proxies.spawn(sock, mapping, "127.0.0.1", "test-proxy"))
    finally:
        sock.close()
    return mapping.host_port, started[-1]


def test_tcp_proxy_relays_both_ways_with_half_close(tcp_echo, started):
    port, pid = _start(f"127.0.0.1::{tcp_echo}", started)
    payload = os.urandom(300_000)                       # larger than any socket buffer
    for _ in range(3):                                   # several connections in a row
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := c.recv(65536):
                got += chunk
        assert got == b"echo:" + payload
    assert proxies.is_proxy_of(pid, "test-proxy")
    assert not proxies.is_proxy_of(pid, "another-container")


def test_udp_proxy_relays_replies_to_each_client(udp_echo, started):
    port, _ = _start(f"127.0.0.1::{udp_echo}/udp", started)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for i, c in enumerate(clients):
            c.settimeout(5)
            c.sendto(f"hi{i}".encode(), ("127.0.0.1", port))
        for i, c in enumerate(clients):
            assert c.recvfrom(100)[0] == f"echo:hi{i}".encode()
    finally:
        for c in clients:
            c.close()


def test_stop_ends_the_proxy_and_frees_the_port(tcp_echo, started):
    port, pid = _start(f"127.0.0.1::{tcp_echo}", started)
    assert proxies.stop(pid, "test-proxy") is True
    assert not os.path.exists(f"/proc/{pid}")            # reaped, not a zombie
    assert proxies.stop(pid, "test-proxy") is False      # idempotent
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))                      # nobody holds it any more
    finally:
        s.close()


def test_a_recycled_pid_is_not_ours(tmp_path):
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cmdline").write_bytes(b"sleep\x00100\x00")
    assert not proxies.is_proxy_of(4242, "c1", proc_root=tmp_path)
    (tmp_path / "4242" / "cmdline").write_bytes(b"python\x00-I\x00/x/proxy.py\x00tcp\x00--container\x00c1\x00")
    assert proxies.is_proxy_of(4242, "c1", proc_root=tmp_path)
    assert not proxies.is_proxy_of(4242, "c2", proc_root=tmp_path)
    assert not proxies.stop(4243, "c1", proc_root=tmp_path)


def test_proxy_command_line_is_a_bare_interpreter():
    argv = proxies.proxy_argv(parse_publish("127.0.0.1:8080:80/udp"), 3, "10.76.0.2", "abc")
    assert argv[1:4] == ["-I", "-S", "-B"] and argv[4].endswith("proxy.py")
    assert argv[5:] == ["udp", "3", "10.76.0.2", "80", "--container", "abc"]

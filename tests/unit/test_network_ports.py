"""-p / -P parsing and binding host ports (127.0.0.1 only; no root needed)."""

import socket

import pytest

from minicontainer.errors import NetworkError, UsageError
from minicontainer.network.ports import PortMapping, bind_all, check_unique, parse_publish, publish_all


@pytest.mark.parametrize("spec, want", [
    ("8080:80", PortMapping("0.0.0.0", 8080, 80, "tcp")),
    ("8080:80/udp", PortMapping("0.0.0.0", 8080, 80, "udp")),
    ("127.0.0.1:8080:80/tcp", PortMapping("127.0.0.1", 8080, 80, "tcp")),
    ("127.0.0.1::80", PortMapping("127.0.0.1", 0, 80, "tcp")),
    ("80", PortMapping("0.0.0.0", 0, 80, "tcp")),
    ("53/udp", PortMapping("0.0.0.0", 0, 53, "udp")),
    ("[::1]:8080:80", PortMapping("::1", 8080, 80, "tcp")),
    ("65535:1", PortMapping("0.0.0.0", 65535, 1, "tcp")),
])
def test_parse_publish_accepts(spec, want):
    assert parse_publish(spec) == want


@pytest.mark.parametrize("spec, words", [
    ("", "invalid port mapping"),
    ("80:", "missing container port"),
    ("a:80", "invalid host port"),
    ("8080:x", "invalid container port"),
    ("70000:80", "out of range"),
    ("8080:0", "out of range"),
    ("0:80", "out of range"),
    ("8080:80/sctp", "invalid protocol"),
    ("1.2.3:8080:80", "invalid host address"),
    ("1:2:3:4", "invalid port mapping"),
    (" 80", "invalid port mapping"),
    ("-1:80", "invalid host port"),
])
def test_parse_publish_rejects_with_one_clear_line(spec, words):
    with pytest.raises(UsageError) as info:
        parse_publish(spec)
    text = str(info.value)
    assert words in text and "\n" not in text and not text.endswith(".")
    assert text == text.lower()


def test_publish_all_maps_exposed_ports_to_free_host_ports():
    got = publish_all(["80/tcp", "53/udp", 8080], host_ip="127.0.0.1")
    assert got == [PortMapping("127.0.0.1", 0, 80, "tcp"), PortMapping("127.0.0.1", 0, 53, "udp"),
                   PortMapping("127.0.0.1", 0, 8080, "tcp")]
    with pytest.raises(UsageError):
        publish_all(["80/sctp"])


def test_same_host_port_twice_is_refused():
    with pytest.raises(UsageError, match="published twice"):
        check_unique([parse_publish("127.0.0.1:8080:80"), parse_publish("127.0.0.1:8080:81")])
    # same port number on tcp and udp is fine
    check_unique([parse_publish("127.0.0.1:8080:80"), parse_publish("127.0.0.1:8080:80/udp")])


def test_bind_all_gives_real_ports_and_binds_every_mapping():
    bound = bind_all([parse_publish("127.0.0.1::80"), parse_publish("127.0.0.1::53/udp")])
    try:
        assert [m.proto for _, m in bound] == ["tcp", "udp"]
        for sock, m in bound:
            assert m.host_port == sock.getsockname()[1] != 0
    finally:
        for sock, _ in bound:
            sock.close()


def test_port_in_use_is_a_clear_error_and_nothing_stays_bound():
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
        free.close()
        with pytest.raises(NetworkError, match=f"host port 127.0.0.1:{port}/tcp is already in use"):
            bind_all([parse_publish(f"127.0.0.1:{free_port}:80"), parse_publish(f"127.0.0.1:{port}:80")])
        # the first mapping was bound then closed again: its port is free
        again = socket.socket()
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", free_port))
        again.close()
    finally:
        busy.close()

"""A few lines of HTTP over the engine's unix socket, for what the clients hide: status codes
such as 304, exact error bodies, oversized or malformed requests, a client that hangs up."""

from __future__ import annotations

import http.client
import json
import socket


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(sock_path, method, path, body=None, headers=None, timeout=60):
    """(status, headers, body: parsed JSON when the answer is JSON, else bytes)."""
    conn = UnixConnection(sock_path, timeout)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    if "json" in (resp.getheader("Content-Type") or "") and raw.strip():
        lines = [json.loads(x) for x in raw.splitlines() if x.strip()]
        return resp.status, dict(resp.getheaders()), lines[0] if len(lines) == 1 else lines
    return resp.status, dict(resp.getheaders()), raw


def upgrade(sock_path, path, timeout=30):
    """Send a hijacking request (``Upgrade: tcp``); the socket, positioned after the 101 headers."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock_path))
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              f"Content-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.decode(errors="replace")


def read_frames(s) -> dict[int, bytes]:
    """Read a multiplexed stream to its end: {1: stdout bytes, 2: stderr bytes}."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    out = {1: b"", 2: b""}
    while len(data) >= 8:
        kind, size = data[0], int.from_bytes(data[4:8], "big")
        out[kind] = out.get(kind, b"") + data[8:8 + size]
        data = data[8 + size:]
    return out

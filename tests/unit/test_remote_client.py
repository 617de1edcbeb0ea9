"""The engine client (``minicontainer -H``): light imports, flags -> API body, the request order.

The request order is checked against a small scripted server on a socket in the test's
temporary directory; the real engine is driven in tests/privileged/engine/test_engine_client.py.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading

import pytest

from minicontainer.cli import remote_commands
from minicontainer.cli.flags import add_run_arguments
from minicontainer.errors import UsageError

HEAVY = ("minicontainer.runtime", "minicontainer.kernel", "minicontainer.cgroups", "minicontainer.engine",
         "minicontainer.images", "minicontainer.network", "minicontainer.security", "minicontainer.oci",
         "minicontainer.log")


def run_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_run_arguments(p)
    return p.parse_args(list(argv))


@pytest.mark.parametrize("command", [["run", "--rm", "-m", "64m", "busybox", "true"], ["ps", "-a"], ["version"]])
def test_the_client_imports_nothing_of_the_runtime(tmp_path, command):
    code = ("import sys\nfrom minicontainer.cli import main\n"
            f"code = main(['-H', 'unix://{tmp_path}/none.sock', *{command!r}])\n"
            "print(code, *sorted(m for m in sys.modules if m.startswith('minicontainer')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    code, *mods = done.stdout.split()
    assert code == "125" and "cannot connect to the engine" in done.stderr
    assert "minicontainer.cli.remote" in mods
    assert [m for m in mods if m.startswith(HEAVY)] == []


def test_run_flags_become_the_create_body(monkeypatch):
    monkeypatch.setenv("FROM_HERE", "yes")
    args = run_args("--rm", "-e", "A=1", "-e", "FROM_HERE", "-e", "UNSET_HERE", "-w", "/tmp", "-u", "nobody",
                    "-p", "127.0.0.1:8080:80", "-p", "53/udp", "-v", "/srv:/data:ro", "-v", "/anon",
                    "--tmpfs", "/run:size=1m", "-m", "64m", "--memory-swap", "-1", "--cpus", "0.5",
                    "--pids-limit", "20", "--cap-drop", "ALL", "--read-only", "--network", "none", "--init",
                    "busybox", "sh", "-c", "echo hi")
    body = remote_commands.create_body(args)
    hc = body.pop("HostConfig")
    assert body == {"Image": "busybox", "Env": ["A=1", "FROM_HERE=yes"], "Tty": False, "OpenStdin": False,
                    "AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "StdinOnce": False,
                    "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/anon": {}},
                    "Cmd": ["sh", "-c", "echo hi"], "WorkingDir": "/tmp", "User": "nobody"}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                  "53/udp": [{"HostIp": "", "HostPort": ""}]}
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["PidsLimit"]) == (64 << 20, -1, 500_000_000, 20)
    assert (hc["Binds"], hc["Tmpfs"], hc["CapDrop"], hc["NetworkMode"]) == (
        ["/srv:/data:ro"], {"/run": "size=1m"}, ["ALL"], "none")
    assert hc["AutoRemove"] and hc["ReadonlyRootfs"] and hc["Init"] and not hc["Privileged"]


@pytest.mark.parametrize("flags, text", [(["-m", "12x"], "invalid memory limit"), (["--cpus", "half"], "--cpus"),
                                         (["-p", "80:http"], "publish"), (["--pids-limit", "many"], "--pids-limit"),
                                         (["--explain"], "--explain needs the runtime")])
def test_bad_flags_are_one_line_before_any_request(flags, text):
    with pytest.raises(UsageError, match=text):
        remote_commands.create_body(run_args(*flags, "busybox"))


class Scripted:
    """A server on a unix socket that answers each request by its path and records the order."""

    def __init__(self, path, answers):
        self.answers, self.seen, self.started = answers, [], threading.Event()
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        line = data.split(b"\r\n", 1)[0].decode()
        method, target = line.split()[:2]
        path = target.split("?")[0].split("/", 2)[2]          # without /v1.43/
        self.seen.append((method, "/" + path))
        self.answers["/" + path](self, conn)
        conn.close()

    def close(self):
        self.sock.close()


def _json(status, doc):
    def answer(server, conn):
        body = json.dumps(doc).encode()
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                     f"\r\n".encode() + body)
    return answer


def test_run_makes_dockers_requests_in_dockers_order(tmp_path, capfd):
    creates = iter([_json(404, {"message": "No such image: busybox:latest"}), _json(201, {"Id": "c" * 64})])

    def attach(server, conn):
        conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
                     b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        server.started.wait(10)
        conn.sendall(b"\x01\0\0\0\0\0\0\x04out\n" + b"\x02\0\0\0\0\0\0\x04err\n")

    def wait(server, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        server.started.wait(10)
        body = json.dumps({"StatusCode": 3}).encode() + b"\n"
        conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    def start(server, conn):
        server.started.set()
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    def pull(server, conn):
        body = b'{"status":"Pulling from library/busybox","id":"latest"}\n{"status":"Downloaded newer image"}\n'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    cid = "c" * 64
    server = Scripted(tmp_path / "e.sock", {"/containers/create": lambda s, c: next(creates)(s, c),
                                            "/images/create": pull, f"/containers/{cid}/attach": attach,
                                            f"/containers/{cid}/wait": wait, f"/containers/{cid}/start": start})
    try:
        code = remote_commands.main(f"unix://{tmp_path}/e.sock", "run", ["--rm", "busybox", "true"])
    finally:
        server.close()
    out, err = capfd.readouterr()
    assert code == 3 and out == "out\n" and err.endswith("err\n")
    assert "Unable to find image 'busybox' locally" in err and "Downloaded newer image" in err
    assert server.seen == [("POST", "/containers/create"), ("POST", "/images/create"),
                           ("POST", "/containers/create"), ("POST", f"/containers/{cid}/attach"),
                           ("POST", f"/containers/{cid}/wait"), ("POST", f"/containers/{cid}/start")]


def test_an_engine_error_is_one_line_and_125(tmp_path, capfd):
    server = Scripted(tmp_path / "e.sock", {"/containers/json": _json(500, {"message": "store is broken"})})
    try:
        from minicontainer.cli.remote import run_remote
        code = run_remote(f"unix://{tmp_path}/e.sock", "ps", [])
    finally:
        server.close()
    assert code == 125 and capfd.readouterr().err == "minicontainer: store is broken\n"

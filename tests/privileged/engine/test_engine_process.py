"""The engine as a process: one per socket, a clean stop, a crash that containers survive, and
bad input that leaves the engine serving and nothing half-created behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import pytest

from minicontainer.runtime import Runtime
from minicontainer.runtime.processes import alive
from rawhttp import UnixConnection, request

CLI = str(Path(sys.executable).parent / "minicontainer")



@pytest.fixture(autouse=True)
def _no_nat(monkeypatch):
    """Only 127.0.0.1 and the test's own bridges here: no outbound NAT rules in the host's packet filter."""
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")

def start_engine(root: Path, sock: Path) -> subprocess.Popen:
    proc = subprocess.Popen([CLI, "--root", str(root), "engine", "-H", f"unix://{sock}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(100):
        if sock.exists():
            try:
                if request(sock, "GET", "/_ping", timeout=2)[0] == 200:
                    return proc
            except OSError:
                pass
        if proc.poll() is not None:
            raise AssertionError(f"engine exited {proc.returncode}: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("engine did not come up")


@pytest.fixture
def sock_dir():
    folder = Path(tempfile.mkdtemp(prefix="mce-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_one_engine_per_socket_clean_stop_and_access(state_root, sock_dir):
    sock = sock_dir / "engine.sock"
    first = start_engine(state_root, sock)
    try:
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        second = subprocess.run([CLI, "--root", str(state_root), "engine", "-H", f"unix://{sock}"],
                                capture_output=True, timeout=30)
        assert second.returncode == 125 and b"another engine is serving this socket" in second.stderr
        refused = subprocess.run([CLI, "engine", "-H", "tcp://127.0.0.1:2375"], capture_output=True, timeout=30)
        assert refused.returncode == 125 and b"only on a unix socket" in refused.stderr
        status, headers, body = request(sock, "HEAD", "/_ping")
        assert status == 200 and headers["Api-Version"] == "1.45" and headers["OSType"] == "linux"
        assert headers["Builder-Version"] == "1" and headers["Pragma"] == "no-cache"
        assert request(sock, "GET", "/v1.41/version")[2]["MinAPIVersion"] == "1.24"
        assert request(sock, "GET", "/v1.99/version")[0] == 400
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert first.returncode == 0 and not sock.exists()
    log = first.stderr.read().decode()
    assert '"HEAD /_ping" 200' in log and '"GET /v1.41/version" 200' in log      # one line per request


def test_sigint_stops_cleanly_and_the_next_engine_sees_the_running_container(state_root, sock_dir):
    """A clean stop (Ctrl-C in the terminal running the engine) leaves containers running, as
    dockerd with live-restore does; the next engine on the same state root lists them."""
    sock = sock_dir / "engine.sock"
    engine = start_engine(state_root, sock)
    client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=60)
    try:
        client.containers.run("busybox", ["sleep", "600"], detach=True, name="outlives", network_mode="none")
        pid = Runtime(state_root).containers.get("outlives").pid
        engine.send_signal(signal.SIGINT)
        assert engine.wait(30) == 0 and not sock.exists()
        assert alive(Path("/proc"), pid, 0)
        engine = start_engine(state_root, sock)
        again = client.containers.get("outlives")
        assert again.status == "running" and again.top()["Processes"][0][-1] == "sleep 600"
        again.remove(force=True)
    finally:
        client.close()
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)


def test_a_user_without_access_to_the_socket_is_refused_and_the_engine_keeps_serving(state_root, sock_dir):
    """Mode 0660, owner root: an ordinary user (nobody, not in the socket's group) cannot connect,
    since connecting is root-equivalent; the engine goes on serving root."""
    sock = sock_dir / "engine.sock"
    os.chmod(sock_dir, 0o755)                      # the directory is not what keeps them out
    engine = start_engine(state_root, sock)
    try:
        probe = ("import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX)\n"
                 "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('refused')\n"
                 "else:\n    print('connected')\n")
        python = "/usr/bin/python3"           # the system's: a checkout's venv may sit where nobody cannot read
        as_nobody = subprocess.run([python, "-c", probe, str(sock)], capture_output=True, text=True,
                                   timeout=30, user=65534, group=65534, extra_groups=[])
        assert as_nobody.stdout.strip() == "refused", as_nobody.stderr
        assert request(sock, "GET", "/_ping")[0] == 200
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)


def test_containers_survive_an_engine_crash(state_root, sock_dir):
    sock = sock_dir / "engine.sock"
    engine = start_engine(state_root, sock)
    client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=60)
    try:
        c = client.containers.run("busybox", ["sh", "-c", "echo alive; sleep 600"], detach=True, name="survivor")
        pid = Runtime(state_root).containers.get("survivor").pid
        in_flight = {}

        def follow():   # a request in flight when the engine dies
            try:
                in_flight["logs"] = b"".join(c.logs(stream=True, follow=True))
            except Exception as err:   # noqa: BLE001 - the connection breaks, as it should
                in_flight["error"] = err
        t = threading.Thread(target=follow, daemon=True)
        t.start()
        time.sleep(0.5)
        engine.send_signal(signal.SIGKILL)
        engine.wait(10)
        t.join(10)
        assert not t.is_alive()                            # the client saw the connection end
        assert alive(Path("/proc"), pid, 0)                # the container did not notice
        assert sock.exists()                               # a stale socket, taken over below
        engine = start_engine(state_root, sock)
        again = client.containers.get("survivor")
        assert again.status == "running" and again.logs() == b"alive\n"
        assert again.exec_run("echo still-here").output == b"still-here\n"
        again.stop(timeout=1)
        again.remove()
    finally:
        client.close()
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)


def test_an_engine_killed_in_the_middle_of_runs_leaves_every_container_whole(state_root, sock_dir):
    """SIGKILL while two clients create and start containers as fast as they can: the next engine
    lists every container a client was told about, each one in a state it can be removed from,
    and after removing them the leak census (the state_root fixture) finds nothing: no cgroup,
    mount, veth or process of a start that was cut in half."""
    sock = sock_dir / "engine.sock"
    engine = start_engine(state_root, sock)
    client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=60)
    made, failed = [], []

    def churn():
        while True:
            try:
                made.append(client.containers.run("busybox", ["sleep", "600"], detach=True).id)
            except Exception as err:   # noqa: BLE001 - the engine died under this request
                failed.append(err)
                return
    workers = [threading.Thread(target=churn, daemon=True) for _ in range(2)]
    try:
        for t in workers:
            t.start()
        deadline = time.monotonic() + 30
        while len(made) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.15)                    # into the next starts
        engine.send_signal(signal.SIGKILL)
        engine.wait(10)
        for t in workers:
            t.join(30)
        assert len(made) >= 3 and len(failed) == 2 and not any(t.is_alive() for t in workers)
        engine = start_engine(state_root, sock)
        listed = {c.id: c for c in client.containers.list(all=True)}
        assert set(made) <= set(listed)                        # nothing a client was told about is lost
        assert all(listed[i].status == "running" for i in made)
        assert {c.status for c in listed.values()} <= {"created", "running", "exited"}
        for c in listed.values():
            c.remove(force=True)
        assert client.containers.list(all=True) == []
    finally:
        client.close()
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)


def test_a_container_with_stdin_survives_an_engine_crash_and_is_attached_again(state_root, sock_dir):
    """The monitor, not the engine, holds a -i container's stdin: a new engine attaches to it."""
    sock = sock_dir / "engine.sock"
    engine = start_engine(state_root, sock)
    client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=60)
    try:
        c = client.containers.run("busybox", ["sh", "-c", "while read line; do echo got $line; done"],
                                  detach=True, stdin_open=True, name="listener")
        pid = Runtime(state_root).containers.get("listener").pid
        engine.send_signal(signal.SIGKILL)
        engine.wait(10)
        assert alive(Path("/proc"), pid, 0)
        engine = start_engine(state_root, sock)
        attached = client.api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = attached._sock
        raw.settimeout(15)
        raw.sendall(b"hello again\n")
        data = b""
        while b"got hello again\n" not in data:
            chunk = raw.recv(4096)
            assert chunk, data
            data += chunk
        assert data.startswith(b"\x01\x00\x00\x00")     # a stdout frame (no tty: multiplexed)
        raw.close()
        again = client.containers.get("listener")
        assert again.status == "running"
        again.remove(force=True)
    finally:
        client.close()
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)


def test_bad_input_is_a_docker_error_and_leaves_nothing(engine, client):
    sock = engine.sock
    rt = Runtime(engine.root)
    status, _, body = request(sock, "POST", "/containers/create", b"{not json")
    assert status == 400 and "invalid JSON" in body["message"]
    status, _, body = request(sock, "POST", "/containers/create",
                              {"Image": "busybox", "HostConfig": {"PidMode": "host", "Devices": [{"x": 1}]}})
    assert status == 400 and "HostConfig.PidMode" in body["message"] and "HostConfig.Devices" in body["message"]
    status, _, body = request(sock, "POST", "/containers/create", {"Image": "busybox",
                                                                   "HostConfig": {"RestartPolicy": {"Name": "always"}}})
    assert status == 400 and "RestartPolicy" in body["message"]
    status, _, body = request(sock, "POST", "/containers/create", {"Image": "no-such-image:1"})
    assert status == 404 and body["message"] == "No such image: no-such-image:1"
    assert rt.containers.list() == []
    ok = request(sock, "POST", "/containers/create?name=taken", {"Image": "busybox", "Cmd": ["true"]})
    assert ok[0] == 201 and set(ok[2]) == {"Id", "Warnings"}
    status, _, body = request(sock, "POST", "/containers/create?name=taken", {"Image": "busybox"})
    assert status == 409 and "taken" in body["message"]
    assert request(sock, "GET", "/containers/nope/json")[0] == 404
    assert request(sock, "GET", "/no/such/endpoint")[2] == {"message": "page not found"}
    # a body far larger than sensible: refused before it is read, and the engine keeps serving
    conn = UnixConnection(sock)
    conn.putrequest("POST", "/containers/create")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(1 << 40))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and b"too large" in resp.read()
    conn.close()
    # a client that hangs up in the middle of a stream
    c = client.containers.run("busybox", ["sh", "-c", "while true; do echo tick; sleep 0.1; done"], detach=True,
                              network_mode="none")
    time.sleep(0.3)                                 # the run's own request threads have ended
    threads = threading.active_count()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    s.sendall(f"GET /containers/{c.id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    assert threading.active_count() > threads       # a thread follows the log for this client
    s.close()
    assert request(sock, "GET", "/_ping")[0] == 200
    # the follower's thread ends with its client (and the ping's own thread once it has answered)
    deadline = time.monotonic() + 5
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads
    c.remove(force=True)
    assert [x.name for x in rt.containers.list()] == ["taken"]

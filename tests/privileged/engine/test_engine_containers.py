"""Every container endpoint through docker-py (the Docker SDK), with status codes and bodies checked;
the raw HTTP helper for what docker-py hides (304s, error bodies)."""

from __future__ import annotations

import io
import tarfile
import time

import docker
import pytest

from minicontainer.runtime import Runtime
from rawhttp import read_frames, request, upgrade



@pytest.fixture(autouse=True)
def _no_nat(monkeypatch):
    """Only 127.0.0.1 and the test's own bridges here: no outbound NAT rules in the host's packet filter."""
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")

def test_run_create_start_wait_logs_remove(client, engine):
    assert client.containers.run("busybox", ["sh", "-c", "echo to-out; echo to-err >&2"], remove=True,
                                 stderr=True) == b"to-out\nto-err\n"
    c = client.containers.create("busybox", ["sh", "-c", "echo $GREETING from $(hostname); exit 3"],
                                 environment=["GREETING=hello"], hostname="box1", labels={"course": "lab"},
                                 name="first", network_mode="none")
    assert c.status == "created" and c.name == "first"
    c.start()
    assert c.wait(timeout=30) == {"StatusCode": 3, "Error": None}
    assert c.logs() == b"hello from box1\n"
    assert c.logs(timestamps=True).split(b" ", 1)[1] == b"hello from box1\n"
    c.reload()
    assert c.attrs["State"]["Status"] == "exited" and c.attrs["State"]["ExitCode"] == 3
    assert c.attrs["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert c.attrs["Config"]["Labels"] == {"course": "lab"} and c.attrs["Name"] == "/first"
    assert [x.name for x in client.containers.list(all=True, filters={"label": "course=lab"})] == ["first"]
    assert client.containers.list(all=True, filters={"label": "course=other"}) == []
    assert [x.name for x in client.containers.list(all=True, filters={"status": "exited"})] == ["first"]
    assert client.containers.list() == []          # running only
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("first")


def test_entrypoint_workdir_user(client, engine):
    got = client.containers.run("busybox", ["-c", "pwd; id -u"], entrypoint=["sh"], working_dir="/tmp",
                                user="65534", remove=True, network_mode="none")
    assert got == b"/tmp\n65534\n"


def test_lifecycle_verbs_and_their_statuses(client, engine):
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, name="sleepy", network_mode="none")
    sock = engine.sock
    assert request(sock, "POST", f"/containers/{c.id}/start")[0] == 304       # already running
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.rename("renamed")
    c.reload()
    assert c.name == "renamed"
    top = c.top()
    assert top["Titles"][:2] == ["UID", "PID"] and top["Processes"][0][-1] == "sleep 600"
    stats = c.stats(stream=False)
    assert stats["pids_stats"]["current"] == 1 and stats["memory_stats"]["usage"] > 0
    assert stats["cpu_stats"]["system_cpu_usage"] > stats["precpu_stats"]["system_cpu_usage"]
    stream = c.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    stream.close()
    status, _, body = request(sock, "DELETE", f"/containers/{c.id}")
    assert status == 409 and "running" in body["message"]
    c.stop(timeout=1)
    assert request(sock, "POST", f"/containers/{c.id}/stop")[0] == 304         # already stopped
    status, _, body = request(sock, "POST", f"/containers/{c.id}/kill")
    assert status == 409 and body["message"]
    c.restart(timeout=1)
    c.reload()
    assert c.status == "running"
    c.kill(signal="SIGKILL")
    assert c.wait(timeout=30)["StatusCode"] == 137
    c.remove(force=True, v=True)
    assert Runtime(engine.root).containers.list() == []


def test_wait_conditions(client, engine):
    c = client.containers.create("busybox", ["sh", "-c", "sleep 0.5; exit 9"], network_mode="none")
    status, _, body = request(engine.sock, "POST", f"/containers/{c.id}/wait?condition=not-running")
    assert (status, body) == (200, {"StatusCode": 0, "Error": None})
    import threading
    got = {}
    t = threading.Thread(target=lambda: got.update(
        r=request(engine.sock, "POST", f"/containers/{c.id}/wait?condition=next-exit")))
    t.start()
    time.sleep(0.3)
    assert t.is_alive()                            # a created container: waits for the run to come
    c.start()
    t.join(30)
    assert got["r"][0] == 200 and got["r"][2]["StatusCode"] == 9
    status, _, body = request(engine.sock, "POST", f"/containers/{c.id}/wait?condition=bogus")
    assert status == 400
    c.remove()


def test_attach_hijacks_and_frames(client, engine):
    c = client.containers.create("busybox", ["sh", "-c", "echo one; echo two >&2"], network_mode="none")
    s, head = upgrade(engine.sock, f"/containers/{c.id}/attach?stream=1&stdout=1&stderr=1")
    assert head.startswith("HTTP/1.1 101 UPGRADED") and "multiplexed-stream" in head
    c.start()
    assert read_frames(s) == {1: b"one\n", 2: b"two\n"}
    s.close()
    c.wait(timeout=30)
    status, _, body = request(engine.sock, "POST", f"/containers/{c.id}/attach?stream=1&stdout=1")
    assert status == 409 and "stopped" in body["message"]     # attach to a stopped container
    c.remove()


def test_exec(client, engine):
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode="none")
    result = c.exec_run(["sh", "-c", "echo in-$(hostname); echo oops >&2; exit 4"], environment=["X=1"])
    assert result.exit_code == 4 and result.output == b"in-" + c.id[:12].encode() + b"\noops\n"
    assert c.exec_run("pwd", workdir="/etc").output == b"/etc\n"
    api = client.api
    eid = api.exec_create(c.id, ["sh", "-c", "touch /tmp/detached"])["Id"]
    assert api.exec_start(eid, detach=True) == ""     # docker-py reads a detached start's empty body as text
    for _ in range(50):
        if c.exec_run(["test", "-e", "/tmp/detached"]).exit_code == 0:
            break
        time.sleep(0.1)
    info = api.exec_inspect(eid)
    assert info["ProcessConfig"]["entrypoint"] == "sh" and info["ContainerID"] == c.id
    slow = api.exec_create(c.id, ["sleep", "30"])["Id"]
    api.exec_start(slow, detach=True)
    pid = api.exec_inspect(slow)["Pid"]                  # the host's number for the exec'd process
    assert pid > 0 and open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:2] == [b"sleep", b"30"]
    assert c.exec_run(["no-such-binary"]).exit_code == 127
    status, _, body = request(engine.sock, "POST", f"/exec/{'0' * 64}/start", {})
    assert status == 404 and "No such exec instance" in body["message"]
    c.stop(timeout=0)
    with pytest.raises(docker.errors.APIError) as err:
        c.exec_run("true")
    assert err.value.status_code == 409
    c.remove()


def test_files_changes_export_archive(client, engine, tmp_path):
    c = client.containers.run("busybox", ["sh", "-c", "echo x > /tmp/new; rm /bin/ls; sleep 600"], detach=True,
                              network_mode="none")
    time.sleep(0.5)
    changes = {(x["Path"], x["Kind"]) for x in c.diff()}
    assert ("/tmp/new", 1) in changes and ("/bin/ls", 2) in changes
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"uploaded\n"
        info = tarfile.TarInfo("up.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue()) is True
    assert c.exec_run(["cat", "/tmp/up.txt"]).output == b"uploaded\n"
    stream, stat = c.get_archive("/tmp/new")
    assert stat["name"] == "new" and stat["size"] == 2
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        assert tar.extractfile("new").read() == b"x\n"
    _, stat = c.get_archive("/tmp")
    assert stat["mode"] & (1 << 31)                # Go's os.ModeDir
    with pytest.raises(docker.errors.NotFound):
        c.get_archive("/no/such/path")
    c.stop(timeout=0)
    stream, _ = c.get_archive("/tmp/up.txt")       # a stopped container's files, too
    assert b"uploaded" in b"".join(stream)
    exported = b"".join(c.export())
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = set(tar.getnames())
    assert "bin/busybox" in {n.lstrip("./") for n in names} and "tmp/new" in {n.lstrip("./") for n in names}
    c.remove()


def test_prune(client, engine):
    client.containers.run("busybox", "true", network_mode="none")
    keep = client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode="none")
    result = client.containers.prune()
    assert len(result["ContainersDeleted"]) == 1
    assert [c.id for c in client.containers.list(all=True)] == [keep.id]
    keep.remove(force=True)

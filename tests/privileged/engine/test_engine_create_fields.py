"""Container create fields and endpoint parameters through docker-py, each checked by its effect:
what the container sees (its /proc, its mounts, its root) and what the host holds (its cgroup
files), not by what the engine echoes back. Also logs tail/since, sizes in list and inspect,
remove with v=1, and resizing a container's and an exec's terminal."""

from __future__ import annotations

import time

import docker
import pytest
from docker.types import Mount

from minicontainer.kernel import default
from minicontainer.runtime import Runtime
from rawhttp import request


@pytest.fixture(autouse=True)
def _no_nat(monkeypatch):
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")


def _logs_until(c, text: bytes, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        out = c.logs()
        if text in out or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def _cgroup_file(engine, cid: str, *names: str) -> str:
    """The first of ``names`` found in the container's cgroup directories on the host."""
    mgr = Runtime(engine.root).cgroup_manager(cid, default())
    for d in mgr.paths():
        for name in names:
            if (d / name).exists():
                return (d / name).read_text().strip()
    raise AssertionError(f"none of {names} in {mgr.paths()}")


SCRIPT = ("echo pid=$$; grep -E '^(CapEff|Seccomp):' /proc/self/status; "
          "touch /written 2>/dev/null && echo root=rw || echo root=ro; "
          "grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4; echo data > /scratch/f && cat /scratch/f; "
          "echo done; sleep 600")


def test_isolation_fields_take_effect(client, engine):
    c = client.containers.run("busybox", ["sh", "-c", SCRIPT], detach=True, network_mode="none", init=True,
                              read_only=True, cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"],
                              security_opt=["seccomp=unconfined"], pids_limit=17, nano_cpus=500_000_000,
                              mounts=[Mount("/scratch", None, type="tmpfs", tmpfs_size=1 << 20)])
    try:
        out = _logs_until(c, b"done").decode()
        lines = out.splitlines()
        assert "pid=1" not in lines and lines[0].startswith("pid=")      # Init: the shell is not PID 1
        assert "CapEff:\t0000000000000400" in lines                        # only CAP_NET_BIND_SERVICE (10)
        assert "Seccomp:\t0" in lines                                      # seccomp=unconfined: no filter
        assert "root=ro" in lines                                          # ReadonlyRootfs
        tmpfs = next(line for line in lines if line.startswith("tmpfs "))
        assert "size=1024k" in tmpfs and "data" in lines                   # Mounts: a writable 1 MiB tmpfs
        assert _cgroup_file(engine, c.id, "pids.max") == "17"              # PidsLimit
        quota = _cgroup_file(engine, c.id, "cpu.max", "cpu.cfs_quota_us")  # NanoCpus: half a CPU
        assert quota in ("50000 100000", "50000")
    finally:
        c.remove(force=True)


def test_defaults_for_contrast(client, engine):
    """The same probes without those fields: the shell is PID 1, Docker's capability set, a seccomp
    filter, a writable root (so the test above is not passing on defaults)."""
    out = client.containers.run("busybox", ["sh", "-c", "echo pid=$$; grep -E '^(CapEff|Seccomp):' "
                                "/proc/self/status; touch /written && echo root=rw"], remove=True,
                                network_mode="none").decode().splitlines()
    assert out == ["pid=1", "CapEff:\t00000000a80425fb", "Seccomp:\t2", "root=rw"]


def test_an_anonymous_volume_from_config_volumes_goes_with_remove_v(client, engine):
    api = client.api
    before = {v.name for v in client.volumes.list()}
    cid = api.create_container("busybox", ["sh", "-c", "echo kept > /data/f; cat /data/f"], volumes=["/data"],
                               host_config=api.create_host_config(network_mode="none"))["Id"]
    api.start(cid)
    assert api.wait(cid)["StatusCode"] == 0 and api.logs(cid) == b"kept\n"
    made = {v.name for v in client.volumes.list()} - before
    assert len(made) == 1                                                  # Config.Volumes: one anonymous volume
    mounts = api.inspect_container(cid)["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", made.pop(), "/data")]
    api.remove_container(cid, v=True)
    assert {v.name for v in client.volumes.list()} == before               # remove ?v=1 took it


def test_logs_tail_and_since(client, engine):
    c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two; echo three"], detach=True,
                              network_mode="none")
    try:
        assert c.wait()["StatusCode"] == 0
        assert c.logs() == b"one\ntwo\nthree\n"
        assert c.logs(tail=1) == b"three\n" and c.logs(tail=2) == b"two\nthree\n"
        assert c.logs(since=int(time.time()) + 60) == b""                  # nothing after a future time
        assert c.logs(since=int(time.time()) - 600) == b"one\ntwo\nthree\n"
    finally:
        c.remove()


def test_sizes_in_list_and_inspect(client, engine):
    c = client.containers.run("busybox", ["sh", "-c", "head -c 300000 /dev/zero > /big; sleep 600"], detach=True,
                              network_mode="none")
    try:
        for _ in range(100):
            if c.exec_run(["test", "-s", "/big"]).exit_code == 0:
                break
            time.sleep(0.1)
        listed = next(x for x in client.api.containers(all=True, size=True) if x["Id"] == c.id)
        assert listed["SizeRw"] >= 300000 and listed["SizeRootFs"] > listed["SizeRw"]
        status, _, body = request(engine.sock, "GET", f"/containers/{c.id}/json?size=1")
        assert status == 200 and body["SizeRw"] >= 300000
        plain = request(engine.sock, "GET", f"/containers/{c.id}/json")[2]
        assert "SizeRw" not in plain                                       # only when asked, as in Docker
    finally:
        c.remove(force=True)


def test_resize_a_containers_and_an_exec_terminal(client, engine):
    c = client.containers.run("busybox", ["sh", "-c", "while :; do stty size; sleep 0.2; done"], detach=True,
                              tty=True, network_mode="none")
    try:
        status = request(engine.sock, "POST", f"/containers/{c.id}/resize?h=31&w=101")[0]
        assert status == 200
        assert b"31 101" in _logs_until(c, b"31 101")                      # the shell saw its new window size
        eid = client.api.exec_create(c.id, ["sh", "-c", "sleep 0.5; stty size"], tty=True)["Id"]
        sock = client.api.exec_start(eid, tty=True, socket=True)
        for _ in range(50):                                                # resize once it runs
            if client.api.exec_inspect(eid)["Running"]:
                break
            time.sleep(0.05)
        assert request(engine.sock, "POST", f"/exec/{eid}/resize?h=12&w=34")[0] in (200, 201)
        got = b""
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(10)
        while chunk := raw.recv(4096):
            got += chunk
        sock.close()
        assert b"12 34" in got
    finally:
        c.remove(force=True)
    plain = client.containers.run("busybox", ["sleep", "600"], detach=True, network_mode="none")
    try:
        with pytest.raises(docker.errors.APIError) as err:
            plain.resize(30, 100)
        assert err.value.status_code == 409 and "no terminal" in str(err.value)
    finally:
        plain.remove(force=True)

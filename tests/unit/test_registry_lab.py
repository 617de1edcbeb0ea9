"""Against the real registry (Debian's docker-registry, started by a fixture on 127.0.0.1):
the lab-registry commands, push/rmi/pull with shared layers, pull by digest, and login."""

import json
import os
import re
import stat
from pathlib import Path

import pytest

from minicontainer.cli import main
from minicontainer.images.commit import commit
from minicontainer.images.store import ImageStore
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push


def blob_gets(registry, digest: str) -> int:
    """How many times the registry served ``GET .../blobs/<digest>`` (its access log)."""
    log = registry.server.log.read_text(errors="replace")
    return len(re.findall(rf'"GET /v2/[^ ]+/blobs/{digest} HTTP/1\.1" 200', log))


@pytest.fixture
def store(tmp_path, image_root):
    import shutil
    shutil.copytree(image_root, tmp_path / "root", symlinks=True)
    return ImageStore(tmp_path / "root")


def child_of_busybox(store, tmp_path, tag):
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "motd").write_text("a layer on top of busybox\n")
    return commit(store, store.resolve("busybox"), upper, tags=[tag], created_by="test layer")


def test_registry_commands_start_status_stop_on_loopback_only(tmp_path, capsys, docker_config):
    from minicontainer.registry.server import free_port
    d, port = tmp_path / "reg", free_port()
    base = ["--root", str(tmp_path / "root"), "registry"]
    try:
        assert main(base + ["start", "--port", str(port), "--dir", str(d)]) == 0
        assert f"registry running at 127.0.0.1:{port}" in capsys.readouterr().out
        assert main(base + ["status", "--dir", str(d)]) == 0
        pid = int((d / "registry.pid").read_text())
        assert f"running at 127.0.0.1:{port} (pid {pid}" in capsys.readouterr().out
        cfg = json.loads((d / "config.yml").read_text().split("\n", 1)[1])
        assert cfg["http"]["addr"] == f"127.0.0.1:{port}"
        assert cfg["storage"]["filesystem"]["rootdirectory"] == str(d / "storage")
        listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port]
        assert listening == [f"0100007F:{port:04X}"]      # 127.0.0.1 only, not 0.0.0.0
        assert main(base + ["start", "--port", str(port), "--dir", str(d)]) == 125      # already running: one line
        assert "already running" in capsys.readouterr().err
    finally:
        assert main(base + ["stop", "--dir", str(d)]) == 0
    assert "registry stopped" in capsys.readouterr().out
    assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    assert main(base + ["status", "--dir", str(d)]) == 1 and "not running" in capsys.readouterr().out
    assert (d / "registry.log").stat().st_size > 0


def test_push_rmi_pull_keeps_ids_and_skips_shared_layers(lab_registry, store, tmp_path, docker_config):
    settings = lab_registry.settings(docker_config)
    base = store.resolve("busybox")
    child = child_of_busybox(store, tmp_path, "lab/child:1")
    events = []
    push(store, "busybox", settings, report=events.append)          # -> 127.0.0.1:P/library/busybox:latest
    assert {"id": base.diff_ids[0][7:19], "status": "Pushed"} in events
    events.clear()
    digest, _ = push(store, "lab/child:1", settings, report=events.append)
    statuses = [e["status"] for e in events if e.get("id")]
    assert "Mounted from library/busybox" in statuses and "Pushed" in statuses     # the shared layer is not sent
    events.clear()
    push(store, "lab/child:1", settings, report=events.append)
    assert [e["status"] for e in events if e.get("id")] == ["Layer already exists"] * 2

    store.remove("lab/child:1")
    store.remove("busybox")
    assert store.list() == []
    report = []
    got = pull(store, "lab/child:1", settings, report=report.append)
    assert got.id == child.id and got.diff_ids == child.diff_ids
    assert (got.layer_dirs[1] / "etc" / "motd").read_text() == "a layer on top of busybox\n"
    assert {"status": f"Digest: {digest}"} in report
    base_blob = json.loads(_manifest(lab_registry, "library/busybox", "latest"))["layers"][0]["digest"]
    before = blob_gets(lab_registry, base_blob)
    report.clear()
    again = pull(store, "busybox", settings, report=report.append)
    assert again.id == base.id
    assert {"id": base_blob[7:19], "status": "Already exists"} in report
    assert blob_gets(lab_registry, base_blob) == before          # no GET for a layer already here
    assert not list((store.root / "tmp").iterdir())


def _manifest(registry, repo, tag) -> bytes:
    import httpx
    from minicontainer.registry.manifests import ACCEPT
    return httpx.get(f"http://{registry.address}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).content


def test_cli_pull_by_digest_and_already_exists_lines(lab_registry, store, tmp_path, docker_config, capsys,
                                                     monkeypatch):
    ref = f"{lab_registry.address}/lab/bb:1"
    store.tag("busybox", ref)
    root = ["--root", str(store.root.parent)]
    assert main(root + ["push", ref]) == 0
    out = capsys.readouterr().out
    digest = re.search(r"1: digest: (sha256:[0-9a-f]{64}) size: \d+", out).group(1)
    store.remove(ref)
    assert main(root + ["pull", f"{lab_registry.address}/lab/bb@{digest}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.endswith(": Already exists") for line in out)     # busybox's layer is still here
    assert out[-1] == f"{lab_registry.address}/lab/bb@{digest}"
    monkeypatch.setenv("MINICONTAINER_REGISTRY", lab_registry.address)
    assert main(root + ["pull", "lab/bb:1"]) == 0                    # a short name on the default registry
    assert "Status: Downloaded newer image for lab/bb:1" in capsys.readouterr().out
    assert store.resolve("lab/bb:1").id == store.resolve("busybox").id


def test_login_wrong_then_right_password_0600_push_logout(lab_registry_auth, store, docker_config, capsys):
    reg = lab_registry_auth
    root = ["--root", str(store.root.parent)]
    ref = f"{reg.address}/private/bb:1"
    store.tag("busybox", ref)
    assert main(root + ["push", ref]) == 1                           # no credentials yet
    assert "unauthorized" in capsys.readouterr().err
    assert main(root + ["login", "-u", "alice", "-p", "wrong", reg.address]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unauthorized" in err[0]
    assert not (docker_config / "config.json").exists()
    assert main(root + ["login", "-u", "alice", f"--password={reg.users['alice']}", reg.address]) == 0
    assert capsys.readouterr().out.strip() == "Login Succeeded"
    cfg = docker_config / "config.json"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert reg.address in json.loads(cfg.read_text())["auths"]
    assert main(root + ["push", ref]) == 0
    assert main(root + ["logout", reg.address]) == 0
    assert f"Removing login credentials for {reg.address}" in capsys.readouterr().out
    assert reg.address not in json.loads(cfg.read_text())["auths"]
    assert main(root + ["pull", ref]) == 1
    assert "unauthorized" in capsys.readouterr().err


def test_a_mount_the_registry_cannot_do_falls_back_to_an_upload(lab_registry, store, docker_config):
    """A remembered source that the registry does not have: 202 instead of 201, the session is
    cancelled (DELETE) and the layer uploaded as usual."""
    settings = lab_registry.settings(docker_config)
    base = store.resolve("busybox")
    store.add_blob_source(base.diff_ids[0], "sha256:" + "5" * 64, 1234, "application/vnd.oci.image.layer.v1.tar+gzip",
                          lab_registry.address, "elsewhere/never")
    events = []
    push(store, "busybox", settings, report=events.append)
    assert [e["status"] for e in events if e.get("id") and "progressDetail" not in e] == ["Preparing", "Pushed"]
    log = lab_registry.server.log.read_text()
    assert re.search(r'"POST /v2/library/busybox/blobs/uploads/\?[^"]*mount=sha256%3A5{64}[^"]*" 202', log)
    assert re.search(r'"DELETE /v2/library/busybox/blobs/uploads/[0-9a-f-]{36}[^"]*" 204', log)


def test_the_real_registry_reports_where_an_upload_stands(lab_registry, docker_config, tmp_path):
    """What resuming relies on: after a PATCH of N bytes, GET <location> answers 204 with Range 0-(N-1)."""
    from minicontainer.registry import blobs
    from minicontainer.registry.transport import Session
    with Session(lab_registry.settings(docker_config), lab_registry.address) as s:
        r = s.send("POST", "/v2/lab/resume/blobs/uploads/", expect=(202,))
        r = s.send("PATCH", r.headers["location"], content=b"x" * 1000, expect=(202,),
                   headers={"Content-Type": "application/octet-stream", "Content-Range": "0-999"})
        offset, location = blobs._resume_point(s, r.headers["location"], scope="")
        assert offset == 1000 and "/v2/lab/resume/blobs/uploads/" in location
        s.send("DELETE", location, expect=(204,))

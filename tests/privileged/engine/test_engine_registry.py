"""docker pull / docker push through the engine, against a real registry on 127.0.0.1 (the lab's
docker-registry, started by the registry fixtures), with docker-py and both docker CLIs."""

from __future__ import annotations

import socket

import docker
import pytest

from minicontainer.images.store import ImageStore


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_push_remove_pull_with_docker_py(client, engine, lab_registry, docker_config):
    store = ImageStore(engine.root)
    original = store.resolve("busybox").id
    repo = f"{lab_registry.address}/eng/bb"
    client.images.get("busybox").tag(repo, "1")
    msgs = list(client.api.push(repo, tag="1", stream=True, decode=True))
    assert not [m for m in msgs if "error" in m], msgs
    digest = [m["aux"]["Digest"] for m in msgs if "aux" in m]
    assert len(digest) == 1 and digest[0].startswith("sha256:")
    client.api.remove_image(f"{repo}:1")
    client.api.remove_image("busybox")
    assert store.list() == []
    pulled = client.images.pull(repo, tag="1")
    assert pulled.id == original and store.resolve(f"{repo}:1").id == original
    again = list(client.api.pull(repo, tag="1", stream=True, decode=True))
    assert any("up to date" in m.get("status", "") for m in again)
    with pytest.raises(docker.errors.NotFound) as err:          # the status of the create call itself
        client.api.pull(f"{lab_registry.address}/eng/nope", tag="1")
    assert err.value.status_code == 404 and "/images/create" in str(err.value)
    assert [im.repo_tags for im in store.list()] == [[f"{repo}:1"]]        # nothing half-pulled


def test_registry_errors(client, engine, docker_config):
    with pytest.raises(docker.errors.APIError) as err:
        client.api.pull(f"127.0.0.1:{_closed_port()}/app", tag="1")
    assert err.value.status_code >= 500 and "/images/create" in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        list(client.api.push("busybox", tag="latest", stream=True, decode=True))
    assert err.value.status_code == 403 and "Docker Hub" in str(err.value)
    with pytest.raises(docker.errors.ImageNotFound):
        list(client.api.push("127.0.0.1:5000/nothing", tag="1", stream=True, decode=True))
    with pytest.raises(docker.errors.NotFound) as err:
        client.images.pull("alpine", tag="3")             # Docker Hub is never contacted
    assert "does not use Docker Hub" in str(err.value)


def test_cli_push_pull(docker_cli, engine, lab_registry, docker_config):
    ref = f"{lab_registry.address}/cli/bb:{docker_cli.kind}"
    docker_cli("tag", "busybox", ref)
    out = docker_cli("push", ref).stdout.decode()
    assert "digest: sha256:" in out
    docker_cli("rmi", ref)
    out = docker_cli("pull", ref).stdout.decode()
    assert "Already exists" in out          # busybox still holds the layer: it is not fetched again
    assert ImageStore(engine.root).resolve(ref).id == ImageStore(engine.root).resolve("busybox").id


def test_login_through_the_engine_with_docker_py(client, engine, lab_registry_auth, docker_config):
    """POST /auth proves the credentials on the registry and stores nothing on the engine's side."""
    user, password = next(iter(lab_registry_auth.users.items()))
    with pytest.raises(docker.errors.APIError) as err:
        client.login(user, password + "x", registry=lab_registry_auth.address, reauth=True)
    assert err.value.status_code == 401 and "unauthorized" in str(err.value)
    answer = client.login(user, password, registry=lab_registry_auth.address, reauth=True)
    assert answer["Status"] == "Login Succeeded"
    assert not (docker_config / "config.json").exists()       # the engine keeps no credentials
    r = client.api.post(client.api._url("/auth"), data="{not json")
    assert r.status_code == 400 and r.json()["message"].startswith("invalid JSON")
    with pytest.raises(docker.errors.APIError) as err:
        client.login(user, password, registry="https://index.docker.io/v1/", reauth=True)
    assert err.value.status_code == 400 and "Docker Hub" in str(err.value)


def test_cli_login_then_push_with_credentials(docker_cli, engine, lab_registry_auth, docker_config):
    """docker login (the CLI stores the credentials), then a push that the registry only takes
    with them: the CLI sends them as X-Registry-Auth and the engine uses them."""
    user, password = next(iter(lab_registry_auth.users.items()))
    addr = lab_registry_auth.address
    ref = f"{addr}/private/bb:{docker_cli.kind}"
    docker_cli("tag", "busybox", ref)
    refused = docker_cli("push", ref, check=False)
    assert refused.returncode != 0 and b"unauthorized" in refused.stderr.lower() + refused.stdout.lower()
    bad = docker_cli("login", "-u", user, "--password-stdin", addr, input=b"wrong\n", check=False)
    assert bad.returncode == 1 and b"unauthorized" in bad.stderr.lower(), bad.stderr
    done = docker_cli("login", "-u", user, "--password-stdin", addr, input=password.encode() + b"\n")
    assert b"Login Succeeded" in done.stdout
    stored = (docker_cli.config / "config.json").read_text()
    assert addr in stored                                   # the client keeps them, in its own config
    assert "digest: sha256:" in docker_cli("push", ref).stdout.decode()
    docker_cli("logout", addr)
    assert addr not in (docker_cli.config / "config.json").read_text()

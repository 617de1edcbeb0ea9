"""The docker CLI (both versions: the one on PATH and Debian's 20.10) through the engine: images, build,
networks, volumes, prune, events, as a trainee types them."""

from __future__ import annotations

import os
import select
import subprocess
import time

from minicontainer import network as mcnet
from minicontainer.images.store import ImageStore
from minicontainer.runtime import Runtime
from minicontainer.runtime.volumes import VolumeStore

DOCKERFILE = 'FROM busybox\nARG WHO=world\nRUN echo "hello $WHO" > /hello\nCOPY note.txt /note.txt\nCMD ["cat", "/hello"]\n'


def _context(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "note.txt").write_text("a note\n")
    return ctx


def test_build_images_history_save_load(docker_cli, engine, tmp_path):
    ctx = _context(tmp_path)
    store = ImageStore(engine.root)
    out = docker_cli("build", "-t", "x", "--build-arg", "WHO=trainee", str(ctx), env={"DOCKER_BUILDKIT": "0"})
    text = out.stdout.decode()
    assert "Step 1/5 : FROM busybox" in text and "Successfully tagged x:latest" in text
    image = store.resolve("x")
    assert f"Successfully built {image.short_id}" in text
    # no DOCKER_BUILDKIT and no buildx plugin: the CLI falls back to the classic builder by itself
    again = docker_cli("build", "-t", "x", "--build-arg", "WHO=trainee", str(ctx))
    assert again.stdout.decode().count("Using cache") == 4 and store.resolve("x").id == image.id
    if docker_cli.kind == "path":
        assert "legacy builder is deprecated" in again.stderr.decode()

    images = docker_cli("images").stdout.decode().splitlines()
    assert images[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"]
    rows = {tuple(line.split()[:3]) for line in images[1:]}
    assert ("x", "latest", image.short_id) in rows and len(rows) == 2     # build steps hidden, as docker does
    assert docker_cli("images", "-q", "x").stdout.decode().split() == [image.short_id]
    history = docker_cli("history", "x").stdout.decode().splitlines()
    assert history[1].startswith(image.short_id) and "CMD" in history[1]
    assert len(history) == 1 + len(image.history)

    saved = tmp_path / "x.tar"
    docker_cli("save", "-o", str(saved), "x")
    docker_cli("rmi", "x")
    assert "x:latest" not in {t for im in store.list() for t in im.repo_tags}
    piped = subprocess.run(f"set -o pipefail; '{docker_cli.binary}' save busybox | '{docker_cli.binary}' load",
                           shell=True, executable="/bin/bash", env=docker_cli.env, capture_output=True, timeout=120)
    assert piped.returncode == 0 and "Loaded image: busybox:latest" in piped.stdout.decode()
    loaded = docker_cli("load", "-i", str(saved)).stdout.decode()
    assert "Loaded image: x:latest" in loaded and store.resolve("x").id == image.id
    bad = docker_cli("build", "-t", "y", str(tmp_path / "nowhere"), check=False)
    assert bad.returncode != 0


def test_networks_and_volumes(docker_cli, engine, tmp_path):
    net = f"mcc{int(time.time() * 1000) % 10**7}{docker_cli.kind[0]}"
    rt = Runtime(engine.root)
    try:
        net_id = docker_cli("network", "create", net).stdout.decode().strip()
        assert mcnet.NetworkStore(engine.root).inspect(net).id == net_id
        assert net in docker_cli("network", "ls").stdout.decode()
        cid = docker_cli("create", "--name", "c1", "--network", "none", "busybox", "true").stdout.decode().strip()
        docker_cli("network", "connect", net, "c1")
        assert rt.containers.get(cid).network == net
        refused = docker_cli("network", "rm", net, check=False)
        assert refused.returncode == 1 and "active endpoints" in refused.stderr.decode()
        docker_cli("network", "disconnect", net, "c1")
        assert rt.containers.get(cid).network == "none"
        docker_cli("rm", "c1")
        docker_cli("network", "rm", net)
        assert mcnet.NetworkStore(engine.root).record(net) is None
        missing = docker_cli("network", "inspect", "nosuchnet", check=False)
        assert missing.returncode == 1 and any(m in missing.stderr.decode().lower() for m in ("not found", "no such network"))

        assert docker_cli("volume", "create", "v1").stdout.decode().strip() == "v1"
        assert "v1" in docker_cli("volume", "ls").stdout.decode()
        run = docker_cli("run", "--rm", "--network", "none", "-v", "v1:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        assert run.returncode == 0
        assert (VolumeStore(engine.root).get("v1").data / "f").read_text() == "kept\n"
        docker_cli("volume", "rm", "v1")
        assert VolumeStore(engine.root).ls() == []
    finally:
        for c in rt.containers.list():
            rt.remove(c.id, force=True)
        try:
            mcnet.remove_network(engine.root, net)
        except Exception:  # noqa: BLE001 - removed by the test already
            pass


def test_system_prune_and_events(docker_cli, engine, tmp_path):
    store = ImageStore(engine.root)
    stray = store.add_image({"rootfs": {"type": "layers", "diff_ids": []}, "os": "linux",
                             "created": "2026-01-01T00:00:00Z"}).id
    net = f"mcp{int(time.time() * 1000) % 10**7}{docker_cli.kind[0]}"
    since = int(time.time())
    docker_cli("network", "create", net)
    docker_cli("volume", "create", "evv")
    docker_cli("create", "--name", "gone", "busybox", "true")
    out = docker_cli("system", "prune", "-f").stdout.decode()
    assert "Total reclaimed space" in out and stray in out
    assert [im.repo_tags for im in store.list()] == [["busybox:latest"]]
    assert Runtime(engine.root).containers.list() == []                # stopped containers go too
    assert mcnet.NetworkStore(engine.root).record(net) is None          # unused networks too
    assert [v.name for v in VolumeStore(engine.root).ls()] == ["evv"]   # volumes stay without --volumes
    docker_cli("volume", "rm", "evv")
    time.sleep(1.1)                                                     # --until has one-second steps
    until = int(time.time())
    lines = docker_cli("events", "--since", str(since), "--until", str(until)).stdout.decode().splitlines()
    kinds = [" ".join(line.split()[1:3]) for line in lines]
    for wanted in ("network create", "volume create", "container create", "image delete", "container destroy",
                   "network destroy", "volume destroy"):
        assert wanted in kinds, (wanted, lines)
    only = docker_cli("events", "--since", str(since), "--until", str(until), "--filter", "type=volume",
                      "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}").stdout.decode().splitlines()
    assert only == ["volume create evv", "volume destroy evv"]


def test_events_streamed_while_docker_run(docker_cli, engine):
    """``docker events`` left running (no --until) prints a container's life as ``docker run --rm`` goes."""
    watcher = subprocess.Popen([docker_cli.binary, "events", "--filter", "type=container",
                                "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
                               env=docker_cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)                              # its request is in before anything happens
        assert watcher.poll() is None, watcher.stderr.read()
        docker_cli("run", "--rm", "--network", "none", "--name", "watched", "busybox", "sh", "-c", "exit 0")
        text, fd = "", watcher.stdout.fileno()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "destroy watched" not in text:
            ready, _, _ = select.select([fd], [], [], 1.0)      # never block past the deadline
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                text += chunk.decode()
        lines = [line.strip() for line in text.splitlines()]
    finally:
        watcher.terminate()
        watcher.wait(10)
    assert [x for x in lines if x.split()[0] in ("create", "start", "die", "destroy")] == \
        ["create watched", "start watched", "die watched", "destroy watched"]


def test_build_with_a_dockerfile_outside_the_context(docker_cli, engine, tmp_path):
    """``-f`` outside the context: the CLI adds the file to the tar under a random name (and ends the
    tar without its padding); .dockerignore still applies."""
    ctx = _context(tmp_path)
    (ctx / ".dockerignore").write_text("secret.txt\n")
    (ctx / "secret.txt").write_text("keep out\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "Build.file").write_text("FROM busybox\nCOPY . /ctx/\n")
    docker_cli("build", "-f", str(other / "Build.file"), "-t", "outside", str(ctx), env={"DOCKER_BUILDKIT": "0"})
    image = ImageStore(engine.root).resolve("outside")
    top = image.layer_dirs[-1] / "ctx"
    assert (top / "note.txt").read_text() == "a note\n" and not (top / "secret.txt").exists()

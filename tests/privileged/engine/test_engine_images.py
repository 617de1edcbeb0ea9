"""Image endpoints driven by docker-py: statuses and bodies, and what the store holds afterwards."""

from __future__ import annotations

import io
import json
import socket
import tarfile

import docker
import pytest

from minicontainer.images.store import ImageStore


def _untagged_image(root) -> str:
    """An image with no tag and no layer (what a removed tag or a build leaves)."""
    return ImageStore(root).add_image({"rootfs": {"type": "layers", "diff_ids": []}, "architecture": "amd64",
                                       "os": "linux", "created": "2026-01-02T03:04:05Z"}).id


def _container_of(root, image: str) -> str:
    from minicontainer.runtime import Runtime, RunOptions
    return Runtime(root).create(RunOptions(image=image, command=["true"], network="none")).id


def raw_request(sock_path, head: str, body: bytes = b"") -> tuple[int, dict]:
    """One hand-written HTTP request (for what no client sends: broken JSON, a lying Content-Length)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock_path))
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in header.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(header.split()[1]), (json.loads(rest) if rest.strip() else {})


def test_list_inspect_history(client, engine):
    store = ImageStore(engine.root)
    busybox = store.resolve("busybox")
    listed = client.api.images()
    assert [(i["Id"], i["RepoTags"]) for i in listed] == [(busybox.id, ["busybox:latest"])]
    assert listed[0]["Size"] == busybox.size and listed[0]["Created"] > 1_000_000_000
    data = client.api.inspect_image("busybox")
    assert data["Id"] == busybox.id and data["RootFS"]["Layers"] == busybox.diff_ids
    assert data["Config"]["Cmd"] == ["sh"] and data["Os"] == "linux"
    hist = client.api.history("busybox")
    assert hist[0]["Id"] == busybox.id and hist[0]["Tags"] == ["busybox:latest"]
    assert "busybox" in hist[0]["CreatedBy"] and hist[0]["Size"] > 0
    with pytest.raises(docker.errors.ImageNotFound) as err:
        client.api.inspect_image("nosuch:1")
    assert err.value.status_code == 404 and "no such image" in str(err.value)


def test_list_filters(client, engine):
    stray = _untagged_image(engine.root)
    client.api.tag("busybox", "team/tool", "v2")
    dangling = client.api.images(filters={"dangling": True})
    assert [i["Id"] for i in dangling] == [stray]
    refs = client.api.images(filters={"reference": "team/*"})
    assert [i["RepoTags"] for i in refs] == [["team/tool:v2"]]          # only the matching tags, as dockerd
    for bad in ({"colour": "red"}, {"dangling": "maybe"}):
        with pytest.raises(docker.errors.APIError) as err:
            client.api.images(filters=bad)
        assert err.value.status_code == 400
    code, body = raw_request(engine.sock, "GET /v1.41/images/json?filters=%7Bbroken HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 400 and "invalid filters" in body["message"]


def test_tag_and_remove(client, engine):
    store = ImageStore(engine.root)
    image = client.images.get("busybox")
    assert image.tag("mine/app", "v1") is True
    assert store.resolve("mine/app:v1").id == image.id
    with pytest.raises(docker.errors.APIError) as err:
        client.api.tag("busybox", "Bad Name", "x")
    assert err.value.status_code == 400
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.tag("nosuch", "x", "1")
    assert client.api.remove_image("mine/app:v1") == [{"Untagged": "mine/app:v1"}]
    with pytest.raises(docker.errors.ImageNotFound) as err:
        client.api.remove_image("mine/app:v1")
    assert err.value.status_code == 404

    cid = _container_of(engine.root, "busybox")
    with pytest.raises(docker.errors.APIError) as err:
        client.api.remove_image(image.id)          # by ID, while a container uses it
    assert err.value.status_code == 409 and "being used by container" in str(err.value)
    assert store.resolve("busybox").id == image.id    # nothing was removed
    from minicontainer.runtime import Runtime
    Runtime(engine.root).remove(cid)
    out = client.api.remove_image("busybox")
    assert out[0] == {"Untagged": "busybox:latest"} and {"Deleted": image.id} in out
    assert store.list() == []


def test_prune(client, engine):
    store = ImageStore(engine.root)
    stray = _untagged_image(engine.root)
    res = client.api.prune_images()
    assert res["ImagesDeleted"] == [{"Deleted": stray}]
    assert [im.repo_tags for im in store.list()] == [["busybox:latest"]]
    client.api.tag("busybox", "spare", "1")
    cid = _container_of(engine.root, "busybox")
    res = client.api.prune_images(filters={"dangling": False})    # unused tagged images too: busybox is used
    assert res["ImagesDeleted"] is None and store.resolve("spare:1")
    from minicontainer.runtime import Runtime
    Runtime(engine.root).remove(cid)
    res = client.api.prune_images(filters={"dangling": False})
    assert {"Untagged": "busybox:latest"} in res["ImagesDeleted"] and res["SpaceReclaimed"] > 0
    assert store.list() == []
    with pytest.raises(docker.errors.APIError) as err:
        client.api.prune_images(filters={"until": "x", "planet": "mars"})
    assert err.value.status_code == 400


def test_save_load_round_trip(client, engine):
    store = ImageStore(engine.root)
    before = store.resolve("busybox")
    tar = b"".join(client.images.get("busybox").save(named=True))
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        names = t.getnames()
    assert "manifest.json" in names and "index.json" in names and f"blobs/sha256/{before.id[7:]}" in names
    client.api.remove_image("busybox")
    assert store.list() == []
    loaded = client.images.load(tar)
    assert [(im.id, im.tags) for im in loaded] == [(before.id, ["busybox:latest"])]
    assert store.resolve("busybox").diff_ids == before.diff_ids
    with pytest.raises(docker.errors.ImageNotFound):
        b"".join(client.images.get("nosuch").save())


def test_load_rejects_what_is_not_an_archive(client, engine):
    images = [im.id for im in ImageStore(engine.root).list()]
    for junk in (b"this is not a tar" * 100, b"\x1f\x8b\x08\x00garbage"):
        with pytest.raises(docker.errors.APIError) as err:
            list(client.api.load_image(junk))
        assert err.value.status_code == 400
    code, body = raw_request(engine.sock, "POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert code == 400 and "empty" in body["message"]
    # a body announced far larger than any image archive: refused before one byte is read
    code, body = raw_request(engine.sock, "POST /images/load HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Length: 99999999999999\r\n\r\n")
    assert code == 413 and "too large" in body["message"]
    assert [im.id for im in ImageStore(engine.root).list()] == images
    assert not any((engine.root / "images" / "tmp").iterdir())


def test_pull_without_a_registry(client, engine):
    assert client.images.pull("busybox", tag="latest").id == ImageStore(engine.root).resolve("busybox").id
    with pytest.raises(docker.errors.NotFound) as err:
        client.images.pull("alpine", tag="3")
    assert err.value.status_code == 404
    with pytest.raises(docker.errors.APIError) as err:
        client.images.pull("Bad Name", tag="1")
    assert err.value.status_code == 400


def test_import_rootfs(client, engine):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"hi\n"))
    out = list(client.api.import_image_from_data(buf.getvalue(), repository="imported", tag="1"))
    text = "".join(chunk if isinstance(chunk, str) else chunk.decode() for chunk in out)
    image = ImageStore(engine.root).resolve("imported:1")
    assert image.id in text and len(image.diff_ids) == 1


def test_commit(client, engine):
    from minicontainer.runtime import Runtime, RunOptions
    rt = Runtime(engine.root)
    with open("/dev/null", "r+b") as null:
        r = rt.run(RunOptions(image="busybox", command=["sh", "-c", "echo made > /made"], network="none"),
                   stdin=null, stdout=null, stderr=null)
    assert r.exit_code == 0
    out = client.api.commit(r.container.id, repository="snap", tag="1", message="a snapshot", author="me",
                            conf={"Cmd": ["cat", "/made"]})
    image = ImageStore(engine.root).resolve("snap:1")
    assert out["Id"] == image.id and image.config["Cmd"] == ["cat", "/made"]
    assert (image.layer_dirs[-1] / "made").read_text() == "made\n"
    assert image.history[-1]["comment"] == "a snapshot" and image.raw["author"] == "me"
    with pytest.raises(docker.errors.NotFound):
        client.api.commit("nosuchcontainer", repository="x")
    with pytest.raises(docker.errors.APIError) as err:
        client.api.commit(r.container.id, repository="x", conf={"Privileged": True})
    assert err.value.status_code == 400 and "Privileged" in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.commit(r.container.id, repository="x", changes=["CMD ls"])
    assert err.value.status_code == 400

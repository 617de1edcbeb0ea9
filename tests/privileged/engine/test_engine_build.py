"""POST /build through docker-py: the stream, tags, build args, target, labels, the cache, errors."""

from __future__ import annotations

import io
import json
import tarfile

import docker
import pytest

from minicontainer.errors import NotFoundError
from minicontainer.images.store import ImageStore

DOCKERFILE = """\
FROM busybox AS tools
ARG GREETING=hello
RUN echo "$GREETING from the tools stage" > /greeting
FROM busybox AS final
ARG FLAVOUR=plain
COPY app.txt /app.txt
COPY --from=tools /greeting /greeting
RUN echo "$FLAVOUR" > /flavour
CMD ["cat", "/greeting"]
"""


def context_tar(files: dict[str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def build(client, files, **kw) -> list[dict]:
    """RUN steps on ``none`` unless asked (the default bridge is the CLI tests' business)."""
    kw.setdefault("network_mode", "none")
    return list(client.api.build(fileobj=context_tar(files), custom_context=True, decode=True, **kw))


def streamed(messages) -> str:
    return "".join(m.get("stream", "") for m in messages)


def read_file(root, image_ref: str, path: str) -> str:
    """A file of an image, read from its unpacked layers (top layer first), no container needed."""
    image = ImageStore(root).resolve(image_ref)
    for layer in reversed(image.layer_dirs):
        if (layer / path).exists():
            return (layer / path).read_text()
    raise FileNotFoundError(path)


def test_build_stream_tags_args_labels(client, engine):
    files = {"Dockerfile": DOCKERFILE, "app.txt": "the app\n"}
    msgs = build(client, files, tag="app:1", buildargs={"FLAVOUR": "mint"}, labels={"team": "blue"})
    text = streamed(msgs)
    assert text.startswith("Step 1/") and "Step 1/10 : FROM busybox AS tools" in text
    assert "LABEL" in text and "Successfully tagged app:latest" not in text
    aux = [m["aux"]["ID"] for m in msgs if "aux" in m]
    store = ImageStore(engine.root)
    image = store.resolve("app:1")
    assert aux == [image.id] and f"Successfully built {image.short_id}" in text
    assert "Successfully tagged app:1" in text
    assert image.config["Labels"] == {"team": "blue"} and image.config["Cmd"] == ["cat", "/greeting"]
    assert read_file(engine.root, "app:1", "flavour") == "mint\n"
    assert read_file(engine.root, "app:1", "greeting") == "hello from the tools stage\n"
    assert not any("error" in m for m in msgs)

    again = streamed(build(client, files, tag="app:1", buildargs={"FLAVOUR": "mint"}, labels={"team": "blue"}))
    assert again.count("Using cache") == 8             # every step after the two FROMs
    assert f"Successfully built {image.short_id}" in again
    fresh = streamed(build(client, files, tag="app:1", buildargs={"FLAVOUR": "mint"}, labels={"team": "blue"},
                           nocache=True))
    assert "Using cache" not in fresh


def test_build_target_and_several_tags(client, engine):
    files = {"Dockerfile": DOCKERFILE, "app.txt": "x\n"}
    # docker-py sends one t; the docker CLI repeats it: send the query by hand
    resp = client.api._post(client.api._url("/build"), params=[("t", "one:1"), ("t", "two:2"),
                                                             ("target", "tools"), ("q", "1"), ("networkmode", "none")],
                            data=context_tar(files), headers={"Content-Type": "application/x-tar"}, stream=True)
    assert resp.status_code == 200
    msgs = [json.loads(line) for line in resp.iter_lines() if line]
    store = ImageStore(engine.root)
    image = store.resolve("one:1")
    assert store.resolve("two:2").id == image.id
    assert [m for m in msgs if "stream" in m] == [{"stream": image.id + "\n"}]       # q: only the ID
    assert read_file(engine.root, "one:1", "greeting") == "hello from the tools stage\n"
    with pytest.raises(FileNotFoundError):
        read_file(engine.root, "one:1", "app.txt")           # the final stage was not built


def test_build_failure_in_the_stream(client, engine):
    files = {"Dockerfile": "FROM busybox\nRUN echo about to fail && false\n"}
    with pytest.raises(docker.errors.BuildError) as err:
        client.images.build(fileobj=context_tar(files), custom_context=True, tag="broken:1", network_mode="none")
    assert "returned a non-zero code: 1" in str(err.value)
    assert any("about to fail" in (m.get("stream") or "") for m in err.value.build_log)
    store = ImageStore(engine.root)
    with pytest.raises(NotFoundError, match="no such image"):   # no tag for a failed build
        store.resolve("broken:1")
    from minicontainer.runtime import Runtime
    assert Runtime(engine.root).containers.list() == []      # the step's container is gone


def test_build_bad_requests(client, engine):
    before = sorted(im.id for im in ImageStore(engine.root).list())
    not_a_tar = io.BytesIO(b"FROM busybox\n" * 100)
    with pytest.raises(docker.errors.APIError) as err:
        list(client.api.build(fileobj=not_a_tar, custom_context=True))
    assert err.value.status_code == 400 and "not a valid tar" in str(err.value)
    cases = [({"dockerfile": "../Dockerfile"}, "inside the build context"),
             ({"dockerfile": "Nope"}, "cannot locate"),
             ({"buildargs": "{broken"}, "invalid buildargs"),
             ({"t": "Bad Tag"}, "invalid reference"),
             ({"memory": "1000000"}, "memory is not supported"),
             ({"remote": "https://git.invalid/repo.git"}, "remote")]
    for params, needle in cases:
        resp = client.api._post(client.api._url("/build"), params=params, data=context_tar({"Dockerfile": "FROM busybox\n"}),
                                headers={"Content-Type": "application/x-tar"})
        assert resp.status_code == 400, params
        assert needle in resp.json()["message"], (params, resp.json())
    resp = client.api._post(client.api._url("/build"), params={"networkmode": "nosuchnet"},
                            data=context_tar({"Dockerfile": "FROM busybox\n"}), headers={"Content-Type": "application/x-tar"})
    assert resp.status_code == 404 and "nosuchnet" in resp.json()["message"]
    from test_engine_images import raw_request
    code, body = raw_request(engine.sock, "POST /v1.41/build?t=huge HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Type: application/x-tar\r\nContent-Length: 99999999999999\r\n\r\n")
    assert code == 413 and "too large" in body["message"]
    assert sorted(im.id for im in ImageStore(engine.root).list()) == before
    staging = engine.root / "build" / "tmp"
    assert not staging.exists() or not any(staging.iterdir())


def test_build_parse_error_is_reported(client, engine):
    msgs = build(client, {"Dockerfile": "FROM busybox\nFROBNICATE now\n"})
    errors = [m for m in msgs if "error" in m]
    assert len(errors) == 1 and errors[0]["errorDetail"]["message"] == errors[0]["error"]
    assert "FROBNICATE" in errors[0]["error"] or "unknown instruction" in errors[0]["error"].lower()


def test_rmi_takes_the_build_steps_along(client, engine):
    store = ImageStore(engine.root)
    base = store.resolve("busybox")
    files = {"Dockerfile": "FROM busybox\nENV A=1\nRUN echo x > /x\nCMD [\"sh\"]\n"}
    build(client, files, tag="steps:1")
    build(client, {"Dockerfile": files["Dockerfile"] + "ENV B=2\n"}, tag="steps:2")   # shares three steps
    everything = {im.id for im in store.list()}
    assert len(everything) == 1 + 3 + 1                  # busybox, three shared steps, one more
    visible = [i["Id"] for i in client.api.images()]
    assert sorted(visible) == sorted({base.id, store.resolve("steps:1").id, store.resolve("steps:2").id})
    assert len(client.api.images(all=True)) == 5
    out = client.api.remove_image("steps:2")
    assert [list(d) for d in out] == [["Untagged"], ["Deleted"]]         # its parent is steps:1: kept
    out = client.api.remove_image("steps:1")
    deleted = {d["Deleted"] for d in out if "Deleted" in d} & everything      # (layer lines aside)
    assert len(deleted) == 3 and {im.id for im in store.list()} == {base.id}   # the steps went along


def test_rmi_noprune_keeps_the_steps(client, engine):
    store = ImageStore(engine.root)
    build(client, {"Dockerfile": "FROM busybox\nENV A=1\nENV B=2\n"}, tag="np:1")
    client.api.remove_image("np:1", noprune=True)
    assert len(store.list()) == 2                        # busybox and the untagged ENV A step
    pruned = client.api.prune_images()["ImagesDeleted"]
    assert len(pruned) == 1 and len(store.list()) == 1   # dangling now: pruned

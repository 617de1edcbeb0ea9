"""Container endpoints: create, list, inspect, the lifecycle verbs, remove, prune, top, stats.

Each handler parses the request, calls the same library function the CLI's verb calls
(:mod:`minicontainer.runtime`), and formats Docker's answer (moby api/swagger.yaml,
"Container" tag). Output and input streams live in :mod:`.attach`, files in :mod:`.files`.
"""

from __future__ import annotations

import time

from ..errors import NotFoundError, UsageError
from ..runtime.processes import parse_signal
from ..runtime.inspect import container_json
from ..runtime.state import Status
from .create import run_options
from .routes import json_response, no_content, json_stream, route

LIVE = (Status.RUNNING, Status.PAUSED)


def current(req, key: str = "id"):
    rt = req.engine.runtime
    return rt.refresh(rt.containers.get(req.params[key]))


# -- create ----------------------------------------------------------------------
@route("POST", "/containers/create")
def create(req):
    body = req.json(default=None)
    if body is None:
        raise UsageError("a container config is required", op="create")
    from ..security.rootless import default_network
    opts = run_options(body, req.arg("name"), default_network())
    rt = req.engine.runtime
    try:
        rt.resolve_image(opts.image)
    except NotFoundError as err:     # the docker CLI pulls on this 404, and only on it
        raise NotFoundError(f"No such image: {opts.image}") from err
    c = rt.create(opts)
    return json_response({"Id": c.id, "Warnings": []}, 201)


# -- read --------------------------------------------------------------------------
def inspect_document(rt, c) -> dict:
    doc = container_json(c)
    doc.setdefault("State", {}).setdefault("Error", "")
    doc.setdefault("RestartCount", 0)
    doc.setdefault("Driver", "overlay2")
    doc.setdefault("Platform", "linux")
    doc.setdefault("LogPath", str(c.dir / "container.log"))
    doc.setdefault("Config", {}).setdefault("Labels", dict(c.config.get("labels") or {}))
    host = doc.setdefault("HostConfig", {})
    host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    host.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    return doc


@route("GET", "/containers/{id}/json")
def inspect(req):
    rt = req.engine.runtime
    c = current(req)
    doc = inspect_document(rt, c)
    if req.flag("size"):
        doc.update(sizes(rt, c))
    return json_response(doc)


def sizes(rt, c) -> dict:
    """Docker's ``SizeRw`` (what the container wrote: its overlay upper directory) and
    ``SizeRootFs`` (its whole root: the image's layers plus that)."""
    from .system import tree_size
    rw = tree_size(c.upper_dir)
    try:
        image = rt.images().resolve(c.image_id).size
    except NotFoundError as err:      # its image was removed with --force: the root is what it wrote
        from .. import log
        log.swallowed("engine", "image size", err, c.image_id)
        image = 0
    return {"SizeRw": rw, "SizeRootFs": rw + image}


def _ports(c) -> list[dict]:
    if c.state not in LIVE:
        return []
    net = c.extra.get("network") or {}
    return [{"IP": m.get("host_ip") or "0.0.0.0", "PrivatePort": int(m.get("container_port") or 0),
             "PublicPort": int(m.get("host_port") or 0), "Type": m.get("proto", "tcp")}
            for m in net.get("ports") or []]


def summary(c, now: float) -> dict:
    from ..containerlist import status_text
    doc = container_json(c)
    return {"Id": c.id, "Names": ["/" + c.name], "Image": c.image, "ImageID": c.image_id,
            "Command": " ".join(c.command), "Created": int(c.created), "Ports": _ports(c),
            "Labels": dict(c.config.get("labels") or {}), "State": c.state.value,
            "Status": status_text(c, now), "HostConfig": {"NetworkMode": c.network},
            "NetworkSettings": {"Networks": doc["NetworkSettings"]["Networks"]}, "Mounts": doc["Mounts"]}


@route("GET", "/containers/json")
def list_containers(req):
    from ..containerlist import matches, parse_filters
    rt = req.engine.runtime
    checked = parse_filters([f"{k}={v}" for k, values in req.filters().items() for v in values])
    every = req.flag("all") or bool(checked.get("status")) or bool(checked.get("exited"))
    now = time.time()
    rows = []
    for c in sorted((rt.refresh(c) for c in rt.containers.list()), key=lambda c: c.created, reverse=True):
        if not every and c.state not in LIVE:
            continue
        if matches(c, checked):
            rows.append(summary(c, now) | (sizes(rt, c) if req.flag("size") else {}))
    limit = req.int_arg("limit", -1)
    return json_response(rows[:limit] if limit and limit > 0 else rows)


# -- lifecycle ------------------------------------------------------------------------
@route("POST", "/containers/{id}/start")
def start(req):
    c = current(req)
    if c.state in LIVE:
        return no_content(304)
    req.engine.start(c.id)
    return no_content()


@route("POST", "/containers/{id}/stop")
def stop(req):
    c = current(req)
    if c.state not in LIVE:
        return no_content(304)
    timeout = req.int_arg("t", req.int_arg("timeout", 10))
    req.engine.runtime.container(c.id).stop(float(timeout if timeout >= 0 else 10))
    return no_content()


@route("POST", "/containers/{id}/restart")
def restart(req):
    c = current(req)
    timeout = req.int_arg("t", req.int_arg("timeout", 10))
    if c.state in LIVE:
        req.engine.runtime.container(c.id).restart(float(timeout))
    else:
        req.engine.start(c.id)
    return no_content()


@route("POST", "/containers/{id}/kill")
def kill(req):
    c = current(req)
    sig = parse_signal(req.arg("signal") or "KILL")
    handle = req.engine.runtime.container(c.id)
    handle.signal(sig)
    if sig == 9:     # as dockerd: a SIGKILL is answered once the container is down
        handle.wait_exit(10.0)
    return no_content()


@route("POST", "/containers/{id}/pause")
def pause(req):
    req.engine.runtime.container(current(req).id).pause()
    return no_content()


@route("POST", "/containers/{id}/unpause")
def unpause(req):
    req.engine.runtime.container(current(req).id).resume()
    return no_content()


@route("POST", "/containers/{id}/rename")
def rename(req):
    new = req.arg("name")
    if not new:
        raise UsageError("a new name is required (?name=)", op="rename")
    req.engine.runtime.container(current(req).id).rename(new.lstrip("/"))
    return no_content()


@route("POST", "/containers/{id}/wait")
def wait(req):
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise UsageError(f"invalid condition {condition!r} (not-running, next-exit, removed)", op="wait")
    c = current(req)
    from ..runtime.watch import next_exit

    def answer():
        code = next_exit(req.engine.runtime, c, condition, stop=req.disconnected, known_codes=req.engine.codes)
        if code is not None:
            yield {"StatusCode": code, "Error": None}
    return json_stream(answer())     # the headers go out now: the docker CLI starts the container after them


@route("DELETE", "/containers/{id}")
def remove(req):
    rt = req.engine.runtime
    c = rt.container(req.params["id"]).destroy(force=req.flag("force"))
    if req.flag("v"):
        from ..runtime.volumes import remove_anonymous
        remove_anonymous(rt.root, c)
    return no_content()


@route("POST", "/containers/prune")
def prune(req):
    from ..runtime.prune import prune_containers
    rt = req.engine.runtime
    if req.filters():
        raise UsageError("container prune filters are not supported", op="prune")
    removed = prune_containers(rt)
    return json_response({"ContainersDeleted": removed or None, "SpaceReclaimed": 0})


# -- processes and resources -------------------------------------------------------------
@route("GET", "/containers/{id}/top")
def top(req):
    from ..runtime.top import processes
    rows = processes(req.engine.runtime, current(req).id)
    return json_response({"Titles": ["UID", "PID", "PPID", "STIME", "CMD"],
                          "Processes": [[str(r["uid"]), str(r["pid"]), str(r["ppid"]), r["stime"], r["cmd"]]
                                        for r in rows]})


@route("POST", "/containers/{id}/resize")
def resize(req):
    from .attach import resize_tty
    resize_tty(req.engine.runtime, current(req), req.int_arg("h", 0), req.int_arg("w", 0))
    return no_content(200)


@route("GET", "/containers/{id}/stats")
def stats(req):
    from .stats import stats_documents
    c = current(req)
    stream = req.flag("stream", True) and not req.flag("one-shot")
    docs = stats_documents(req.engine.runtime, c, stream=stream, one_shot=req.flag("one-shot"),
                           stop=req.disconnected)
    if not stream:
        return json_response(next(docs))
    return json_stream(docs)


"""Images over the Engine API: list, inspect, history, tag, remove, prune, save/load, create, push.

Each handler reads the request, calls :mod:`minicontainer.images` (the same store, locks and
archive code ``minicontainer images``/``save``/``load`` use) and answers in the shapes of
moby's ``api/swagger.yaml`` (``ImageSummary``, ``ImageInspect``, ``HistoryResponseItem``,
``ImageDeleteResponseItem``). Tar archives travel as the request or response body
(``application/x-tar``): ``docker save`` reads ``GET /images/get``, ``docker load`` sends
``POST /images/load``; both pass through a file in a scratch folder under the state root, so
the archive code checks a whole archive (digests, paths) before anything enters the store.

``POST /images/create`` is ``docker pull``, through :mod:`minicontainer.registry` (only the
layers the store lacks are fetched) from a registry the reference names or the configured
default one. Docker Hub is never contacted: with it as the default, ``busybox`` is made from the
host's busybox (as ``minicontainer pull`` does) and any other name not here is a 404, which the
docker CLI reports as "no such image". ``fromSrc`` (``docker import``) reads a root filesystem
tar; ``POST /images/NAME/push`` is ``docker push``; ``POST /commit`` is ``docker commit``.
"""

from __future__ import annotations

import contextlib

from ..files import discard_tree
from ..errors import ConflictError, ImageError, NotFoundError
from ..images.lineage import kept_ancestors, remove
from ..images.listing import FILTERS, created_epoch, lineage, select
from ..runtime.inspect import image_json
from . import kit
from .errors import HTTPError
from .routes import json_response, json_stream, no_content, route


# -- what the store says, in Docker's words -----------------------------------------
def users_by_image(root) -> dict[str, list[str]]:
    """image id -> names of this root's containers made from it (any state)."""
    from ..runtime.containers import ContainerStore
    users: dict[str, list[str]] = {}
    for c in ContainerStore(root).list():
        users.setdefault(c.image_id, []).append(c.name or c.id[:12])
    return users


def summary(im, parent: str, containers: int) -> dict:
    return {"Id": im.id, "ParentId": parent, "RepoTags": list(im.repo_tags), "RepoDigests": [],
            "Created": int(created_epoch(im.created)), "Size": im.size, "SharedSize": -1, "VirtualSize": im.size,
            "Labels": dict(im.config.get("Labels") or {}), "Containers": containers}


def history_json(store, im) -> list[dict]:
    """Newest step first, as ``docker history`` lists it; only the top line names an image."""
    out, layers = [], iter(im.diff_ids)
    for h in im.history:
        size = 0
        if not h.get("empty_layer"):
            d = next(layers, None)
            with contextlib.suppress(OSError, ImageError):
                size = store.blob_path(d).stat().st_size if d else 0
        out.append({"Id": "<missing>", "Created": int(created_epoch(h.get("created", ""))),
                    "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                    "Comment": h.get("comment", "")})
    out.reverse()
    if out:
        out[0]["Id"], out[0]["Tags"] = im.id, list(im.repo_tags)
    return out


def familiar(ref: str) -> str:
    """``docker.io/library/busybox:latest`` -> ``busybox:latest`` (the store's names are short)."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


# -- handlers ----------------------------------------------------------------------
def _store(req):
    from ..images.store import ImageStore
    return ImageStore(req.engine.root)


def _lines_json(lines: list[str]) -> list[dict]:
    """The store's ``Untagged: x`` / ``Deleted: y`` lines as ImageDeleteResponseItems."""
    return [dict([line.split(": ", 1)]) for line in lines]


@route("GET", "/images/json")
def list_images(req):
    store = _store(req)
    filters = kit.filters(req, FILTERS)
    if filters.get("reference"):
        filters["reference"] = [familiar(r) for r in filters["reference"]]
    for key in ("before", "since"):
        if filters.get(key):
            filters[key] = [familiar(r) for r in filters[key]]
    shown = select(store, filters, all_images=req.flag("all"))
    parents = lineage(store.list())
    users = users_by_image(req.engine.root)
    return json_response([summary(im, parents.get(im.id, ""), len(users.get(im.id, []))) for im in shown])


@route("GET", "/images/{name:path}/json")
def inspect_image(req):
    store = _store(req)
    im = store.resolve(familiar(req.params["name"]))
    return json_response(image_json(im, lineage(store.list()).get(im.id, "")))


@route("GET", "/images/{name:path}/history")
def image_history(req):
    store = _store(req)
    return json_response(history_json(store, store.resolve(familiar(req.params["name"]))))


@route("POST", "/images/{name:path}/tag")
def tag_image(req):
    repo, tag = req.arg("repo"), req.arg("tag") or "latest"
    if not repo:
        raise HTTPError(400, "repository name must have at least one component (repo=...)")
    target = familiar(repo)
    if ":" not in target.rpartition("/")[2]:
        target = f"{target}:{tag}"
    _store(req).tag(familiar(req.params["name"]), target)
    return no_content(201)


@route("DELETE", "/images/{name:path}")
def remove_image(req):
    name = req.params["name"]
    try:
        lines = remove(_store(req), familiar(name), in_use=users_by_image(req.engine.root), force=req.flag("force"),
                       prune=not req.flag("noprune"))
    except ConflictError as err:
        raise ConflictError(f"unable to remove repository reference \"{name}\": {err.message}", op="conflict") from err
    return json_response(_lines_json(lines))


@route("POST", "/images/prune")
def prune_images(req):
    """Untagged images no container uses; with ``dangling=false``, every image no container uses."""
    store = _store(req)
    filters = kit.filters(req, ("dangling", "label", "until"))
    every = [v.lower() for v in filters.get("dangling", ["true"])] in (["false"], ["0"])
    users = users_by_image(req.engine.root)
    sizes = {im.id: im.size for im in store.list()}
    lines = []
    if every:
        for im in store.list():
            if im.repo_tags and im.id not in users and kit.labels_match(im.config.get("Labels") or {},
                                                                       filters.get("label", [])):
                for t in im.repo_tags:
                    with contextlib.suppress(NotFoundError, ConflictError):
                        lines += store.remove(t, in_use=users)
    lines += store.prune(in_use={**kept_ancestors(store.list(), users), **users})
    items = _lines_json(lines)
    return json_response({"ImagesDeleted": items or None,
                          "SpaceReclaimed": sum(sizes.get(i.get("Deleted"), 0) for i in items)})


def _save(req, refs: list[str]):
    from ..images import archive
    if not refs:
        raise HTTPError(400, "no image names given (names=...)")
    store = _store(req)
    for ref in refs:
        store.resolve(ref)                    # a 404 before any byte of the tar is sent
    scratch = kit.scratch_dir(req)
    try:
        archive.save(store, refs, scratch / "images.tar")
    except BaseException:
        discard_tree(scratch, "engine")
        raise
    return kit.file_response(scratch / "images.tar", "application/x-tar", scratch)


@route("GET", "/images/get")
def save_images(req):
    """``docker save A B``: one tar (an OCI layout plus docker's manifest.json)."""
    return _save(req, [familiar(n) for n in req.args("names")])


@route("GET", "/images/{name:path}/get")
def save_image(req):
    return _save(req, [familiar(req.params["name"])])


def _from_upload(req, what: str, fn):
    """Run ``fn(path)`` on the uploaded tar; a damaged archive is the client's fault (400)."""
    scratch = kit.scratch_dir(req)
    try:
        return fn(kit.body_to_file(req, scratch / what))
    except ImageError as err:
        raise HTTPError(400, str(err)) from err
    finally:
        discard_tree(scratch, "engine")


@route("POST", "/images/load", max_body=None)
def load_images(req):
    """``docker load``: the body is an image archive; the answer a JSON message stream."""
    from ..images import archive
    images = _from_upload(req, "load.tar", lambda path: archive.load(_store(req), path))
    lines = []
    for im in images:
        lines += [f"Loaded image: {t}\n" for t in im.repo_tags] or [f"Loaded image ID: {im.id}\n"]
    return json_stream([{"stream": line} for line in lines])


def _settings(req):
    from ..registry.settings import Settings
    return Settings.load(req.engine.root)


def _credentials(req):
    """``X-Registry-Auth``: base64url JSON ``{"username", "password", ...}`` (docker CLI, docker-py)."""
    import base64
    import json
    text = req.headers.get("X-Registry-Auth")
    if not text:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise HTTPError(400, "X-Registry-Auth is not base64-encoded JSON") from None
    if isinstance(data, dict) and data.get("username") and data.get("password"):
        return data["username"], data["password"]
    return None


@route("POST", "/images/create", max_body=None)
def create_image(req):
    """``docker pull`` (fromImage) and ``docker import`` (fromSrc).

    A pull goes to a registry named in the reference (``127.0.0.1:5000/app``) or to the default
    registry when one is set (:mod:`minicontainer.registry.settings`). With Docker Hub as the
    default, the engine never goes out to it: ``busybox`` is made from the host's busybox (as
    ``minicontainer pull`` does), an image already here is up to date, anything else is a 404."""
    if req.arg("fromSrc") is not None:
        return _import(req)
    name = req.arg("fromImage")
    if not name:
        raise HTTPError(400, "fromImage or fromSrc is required")
    text, tag = name, req.arg("tag") or ""
    if tag and "@" not in text and ":" not in text.rpartition("/")[2]:
        text = f"{text}:{tag}" if not tag.startswith("sha256:") else f"{text}@{tag}"
    from ..images.reference import DOCKER_HUB
    settings = _settings(req)
    ref = settings.reference(text)
    store = _store(req)
    if ref.domain == DOCKER_HUB:
        shown = ref.local_tag or str(ref)
        with contextlib.suppress(NotFoundError):
            store.resolve(shown)
            return json_stream([{"status": f"Status: Image is up to date for {shown}"}])
        if shown == "busybox:latest":
            im = store.ensure_busybox()
            return json_stream([{"status": "Pulling from library/busybox", "id": "latest"},
                                {"status": "Made from the host's busybox (this engine does not use Docker Hub)",
                                 "id": im.short_id},
                                {"status": f"Status: Downloaded newer image for {shown}"}])
        raise NotFoundError(f"pull access denied for {ref.familiar_name}: no such image here, and this engine "
                            f"does not use Docker Hub (name a registry, e.g. 127.0.0.1:5000/{ref.familiar_name}, "
                            f"or set a default one: minicontainer registry default HOST:PORT)", op="pull")
    from ..registry.pull import pull
    creds = _credentials(req)
    return kit.progress_stream(req, lambda report: pull(store, text, settings, report=report, credentials=creds),
                               what="pull", early_errors=True, hold=1)


def _repo_tag(req) -> list[str]:
    """``repo`` and ``tag`` of the query as the one name to tag with (none without ``repo``)."""
    repo, tag = req.arg("repo"), req.arg("tag") or "latest"
    if not repo:
        return []
    repo = familiar(repo)
    return [repo if ":" in repo.rpartition("/")[2] else f"{repo}:{tag}"]


def _import(req):
    from ..images import archive
    if req.arg("fromSrc") != "-":
        raise HTTPError(400, "only fromSrc=- (a root filesystem tar as the request body) is supported")
    tags = _repo_tag(req)
    im = _from_upload(req, "rootfs.tar", lambda path: archive.import_rootfs(_store(req), path, tags))
    return json_stream([{"status": im.id}])


@route("POST", "/images/{name:path}/push")
def push_image(req):
    """``docker push``: the blobs the registry lacks, then the manifest (:mod:`minicontainer.registry.push`)."""
    from ..registry.push import push
    name, tag = familiar(req.params["name"]), req.arg("tag") or ""
    text = f"{name}:{tag}" if tag and ":" not in name.rpartition("/")[2] else name
    store, settings, creds = _store(req), _settings(req), _credentials(req)
    store.resolve(text)                     # a 404 for an image that is not here, before any message
    from ..images.reference import DOCKER_HUB
    if settings.reference(text).domain == DOCKER_HUB:
        raise HTTPError(403, f"this engine does not push to Docker Hub: tag the image for a registry "
                             f"(docker tag {text} 127.0.0.1:5000/{text}) or set a default one")

    def work(report):
        digest, size = push(store, text, settings, report=report, credentials=creds)
        report({"status": f"{tag or 'latest'}: digest: {digest} size: {size}"})
        report({"progressDetail": {}, "aux": {"Tag": tag or "latest", "Digest": digest, "Size": size}})
    return kit.progress_stream(req, work, what="push", early_errors=True)


COMMIT_CONFIG = ("Cmd", "Entrypoint", "Env", "Labels", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal")


@route("POST", "/commit")
def commit_container(req):
    """``docker commit``: the container's upper directory as a new layer on its image (images.commit)."""
    from ..images.commit import commit
    ref = req.arg("container")
    if not ref:
        raise HTTPError(400, "container is required (container=...)")
    if any(req.args("changes")):
        raise HTTPError(400, "commit changes (-c) are not supported: set the config in the request body instead")
    body = kit.json_object(req)
    unknown = sorted(k for k, v in body.items() if v not in (None, "", [], {}) and k not in COMMIT_CONFIG)
    if unknown:
        raise HTTPError(400, f"commit: config field {unknown[0]} is not supported (only {', '.join(COMMIT_CONFIG)})")
    changes = {k: v for k, v in body.items() if k in COMMIT_CONFIG and v not in (None, "", [], {})}
    c = req.engine.runtime.containers.get(ref)
    store = _store(req)
    tags = _repo_tag(req)
    cmd = " ".join(c.command or [])
    im = commit(store, store.resolve(c.image_id), c.upper_dir, tags=tags,
                created_by=f"minicontainer commit {c.name}" + (f" ({cmd})" if cmd else ""),
                comment=req.arg("comment") or "", author=req.arg("author") or "", config_changes=changes or None)
    return json_response({"Id": im.id}, 201)

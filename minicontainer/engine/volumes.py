"""``/volumes``: list, inspect, create, remove, prune, over :class:`~minicontainer.runtime.volumes.VolumeStore`.

A volume is a directory the runtime owns (``<root>/volumes/NAME/_data``), bind-mounted into
the containers that name it (``-v NAME:/path``). ``docker volume create`` makes one; a
container made with ``-v NAME:/path`` makes it on first use, as Docker does. Removing a volume
a container (in any state) still names is a 409; ``prune`` removes unused anonymous volumes,
or every unused volume with the ``all=true`` filter (API 1.42's rule). Only the ``local``
driver exists and it takes no options: a ``DriverOpts`` asking for another kind of mount
(``type=tmpfs``, ``o=bind``) is refused by name, not ignored.
"""

from __future__ import annotations

from ..errors import NotFoundError
from . import kit
from .errors import HTTPError
from .routes import json_response, no_content, route


def _store(req):
    from ..runtime.volumes import VolumeStore
    return VolumeStore(req.engine.root)


def volume_json(store, vol) -> dict:
    return {**vol.to_json(), "Options": None}


@route("GET", "/volumes")
def list_volumes(req):
    filters = kit.filters(req, ("name", "driver", "label", "dangling"))
    store = _store(req)
    out = []
    for vol in store.ls():
        data = volume_json(store, vol)
        if filters.get("name") and not any(v in vol.name for v in filters["name"]):
            continue
        if filters.get("driver") and "local" not in filters["driver"]:
            continue
        if filters.get("label") and not kit.labels_match(data["Labels"], filters["label"]):
            continue
        if filters.get("dangling"):
            value = filters["dangling"][0].lower()
            if value not in ("true", "false", "1", "0"):
                raise HTTPError(400, f"invalid filter 'dangling={filters['dangling'][0]}'")
            if (not store.users(vol.name)) != (value in ("true", "1")):
                continue
        out.append(data)
    return json_response({"Volumes": out, "Warnings": []})


@route("GET", "/volumes/{name}")
def inspect_volume(req):
    store = _store(req)
    return json_response(volume_json(store, store.get(req.params["name"])))


@route("POST", "/volumes/create")
def create_volume(req):
    body = kit.json_object(req)
    driver = body.get("Driver") or "local"
    if driver != "local":
        raise HTTPError(400, f"volume driver {driver!r} is not supported (only local)")
    if body.get("DriverOpts"):
        raise HTTPError(400, f"volume driver option {sorted(body['DriverOpts'])[0]!r} is not supported: "
                             f"a local volume here is a plain directory")
    if body.get("Labels"):
        raise HTTPError(400, "volume labels are not supported")
    name = body.get("Name") or None
    if name is not None and not isinstance(name, str):
        raise HTTPError(400, "Name must be a string")
    store = _store(req)
    with store.lock():
        vol, _ = store.create(name)
    return json_response(volume_json(store, vol), 201)


@route("DELETE", "/volumes/{name}")
def remove_volume(req):
    try:
        _store(req).remove(req.params["name"])
    except NotFoundError:
        if not req.flag("force"):
            raise
    return no_content()


@route("POST", "/volumes/prune")
def prune_volumes(req):
    from .system import tree_size
    filters = kit.filters(req, ("label", "all"))
    store = _store(req)
    every = [v.lower() for v in filters.get("all", ["false"])] in (["true"], ["1"])
    if filters.get("label"):
        raise HTTPError(400, "volume labels are not supported, so the label filter matches nothing")
    sizes = {vol.name: tree_size(vol.data) for vol in store.ls()}
    removed = [name for name in store.prune(all_unused=every) if not name.startswith(".")]
    return json_response({"VolumesDeleted": removed or None,
                          "SpaceReclaimed": sum(sizes.get(n, 0) for n in removed)})

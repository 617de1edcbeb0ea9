"""``/networks``: list, inspect, create, remove, connect, disconnect, prune.

A network is what ``minicontainer network create`` makes: a Linux bridge, a subnet and
a gateway (:mod:`minicontainer.network`). The API's ``Network`` objects add an ``Id``
(a digest of the name and creation time, see :attr:`~minicontainer.network.Network.id`)
and the containers plugged in, read from the endpoint records. ``host`` and ``none`` are
listed too, as dockerd lists them: they are modes (share the host's network namespace, or
have only ``lo``), not bridges, and cannot be created, removed or connected to.

Docker semantics kept: ``bridge``, ``host`` and ``none`` are pre-defined (403 on remove),
a name in use is a 409, removing a network a container uses is a 409, and ``prune``
removes the user networks no container is on or configured for. ``Internal`` makes a network
with no route out (no NAT). Options that would change isolation in ways not built here (IPv6,
another driver, driver options other than the bridge's name) are refused by name.
"""

from __future__ import annotations

import hashlib

from ..errors import ConflictError, NotFoundError
from . import kit
from .errors import HTTPError
from ..runtime.inspect import network_json, rfc3339
from .routes import json_response, no_content, route

MODES = {"host": "host", "none": "null"}
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def _mode_id(name: str) -> str:
    return hashlib.sha256(f"{name}\0pre-defined".encode()).hexdigest()


def _store(req):
    from ..network import NetworkStore
    return NetworkStore(req.engine.root)


def _endpoints(req):
    from ..network.endpoint import endpoints
    return endpoints(_store(req))


def mode_json(name: str) -> dict:
    return {"Name": name, "Id": _mode_id(name), "Created": rfc3339(0), "Scope": "local", "Driver": MODES[name],
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}


def _all(req) -> list[dict]:
    from .. import network
    store = _store(req)
    store.inspect(network.DEFAULT_NETWORK)             # the default network always exists
    eps = _endpoints(req)
    return [network_json(n, eps) for n in store.ls()] + [mode_json(m) for m in MODES]


def _find(req, ref: str) -> dict:
    """A network by name, full id or unique id prefix (as dockerd resolves them)."""
    nets = _all(req)
    for n in nets:
        if ref in (n["Name"], n["Id"]):
            return n
    prefix = [n for n in nets if ref and n["Id"].startswith(ref)]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1:
        raise HTTPError(400, f"network {ref} is ambiguous ({len(prefix)} matches)")
    raise NotFoundError(f"network {ref} not found", op="network")


@route("GET", "/networks")
def list_networks(req):
    filters = kit.filters(req, ("name", "id", "driver", "type", "scope", "label", "dangling"))
    eps = {ep.network for ep in _endpoints(req)}
    out = []
    for n in _all(req):
        builtin = n["Name"] in MODES or n["Name"] == "bridge"
        if filters.get("name") and not any(v in n["Name"] for v in filters["name"]):
            continue
        if filters.get("id") and not any(n["Id"].startswith(v) for v in filters["id"]):
            continue
        if filters.get("driver") and n["Driver"] not in filters["driver"]:
            continue
        if filters.get("type") and ("builtin" if builtin else "custom") not in filters["type"]:
            continue
        if filters.get("scope") and "local" not in filters["scope"]:
            continue
        if filters.get("label") and not kit.labels_match(n["Labels"], filters["label"]):
            continue
        if filters.get("dangling"):
            want = filters["dangling"][0].lower() in ("true", "1")
            if builtin or (n["Name"] in eps) == want:
                continue
        out.append(n)
    return json_response(out)


@route("GET", "/networks/{ref}")
def inspect_network(req):
    return json_response(_find(req, req.params["ref"]))


@route("POST", "/networks/create")
def create_network(req):
    body = kit.json_object(req)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise HTTPError(400, "network name is required (Name)")
    if name in MODES or name == "bridge":
        raise HTTPError(403, f"{name} is a pre-defined network and cannot be created")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise HTTPError(400, f"network driver {driver!r} is not supported (only bridge)")
    for key, what in (("EnableIPv6", "IPv6"), ("Attachable", "attachable networks"),
                      ("Ingress", "ingress networks"), ("ConfigOnly", "config-only networks")):
        if body.get(key):
            raise HTTPError(400, f"{key} is not supported: {what}")
    options = dict(body.get("Options") or {})
    bridge = options.pop(BRIDGE_NAME_OPTION, None)
    if options:
        raise HTTPError(400, f"network option {sorted(options)[0]!r} is not supported")
    if body.get("Labels"):
        raise HTTPError(400, "network labels are not supported")
    ipam = body.get("IPAM") or {}
    configs = [{k: v for k, v in c.items() if v} for c in ipam.get("Config") or [] if isinstance(c, dict)]
    if (ipam.get("Driver") or "default") != "default" or ipam.get("Options"):
        raise HTTPError(400, "IPAM: only the default driver, without options, is supported")
    if len(configs) > 1 or any(set(c) - {"Subnet", "Gateway"} for c in configs):
        raise HTTPError(400, "IPAM: only one Config with a Subnet is supported")
    subnet = configs[0].get("Subnet") if configs else None
    if configs and configs[0].get("Gateway"):
        raise HTTPError(400, "IPAM: the gateway is always the subnet's first address here")
    if not isinstance(body.get("Internal", False), bool):
        raise HTTPError(400, "Internal must be true or false")
    from .. import network
    store = _store(req)
    net = network.create_network(req.engine.root, name, subnet, bridge=bridge, internal=bool(body.get("Internal")),
                                 store=store)
    return json_response({"Id": net.id, "Warning": ""}, 201)


def _user_network(req, ref: str) -> str:
    n = _find(req, ref)
    if n["Name"] in MODES or n["Name"] == "bridge":
        raise HTTPError(403, f"{n['Name']} is a pre-defined network and cannot be removed")
    return n["Name"]


def _configured_users(req, name: str) -> list[str]:
    """Containers (any state) whose config names the network: removing it would break their next start."""
    return [c.name for c in req.engine.runtime.containers.list() if c.network == name]


@route("DELETE", "/networks/{ref}")
def remove_network(req):
    from .. import network
    name = _user_network(req, req.params["ref"])
    users = _configured_users(req, name)
    if users:
        raise ConflictError(f"error while removing network: network {name} has active endpoints "
                            f"({', '.join(users)})", op="network rm")
    network.remove_network(req.engine.root, name, store=_store(req))
    return no_content()


def _container_ref(req) -> tuple[str, dict]:
    body = kit.json_object(req)
    ref = body.get("Container")
    if not isinstance(ref, str) or not ref:
        raise HTTPError(400, "Container is required")
    return ref, body


@route("POST", "/networks/{ref}/connect")
def connect_network(req):
    from ..runtime import netconnect
    ref, body = _container_ref(req)
    n = _find(req, req.params["ref"])
    if n["Name"] in MODES:
        raise HTTPError(400, f"a container cannot be connected to the {n['Name']} mode network")
    config = body.get("EndpointConfig") or {}
    if any(config.get(k) for k in ("IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts")):
        raise HTTPError(400, "endpoint settings (fixed address, aliases, links, MAC) are not supported")
    netconnect.connect(req.engine.runtime, ref, n["Name"])
    return no_content(200)


@route("POST", "/networks/{ref}/disconnect")
def disconnect_network(req):
    from ..runtime import netconnect
    ref, body = _container_ref(req)
    n = _find(req, req.params["ref"])
    netconnect.disconnect(req.engine.runtime, ref, n["Name"])
    return no_content(200)


@route("POST", "/networks/prune")
def prune_networks(req):
    """User networks no container is plugged into or configured for (the default one stays)."""
    from .. import network
    kit.filters(req, ("until", "label"))
    store, eps = _store(req), _endpoints(req)
    configured = {c.network for c in req.engine.runtime.containers.list()}
    network.prune(req.engine.root, store=store, container_ids=req.engine.runtime.containers.known_ids())
    deleted = []
    for net in store.ls():
        if net.default or net.name in configured or any(ep.network == net.name for ep in eps):
            continue
        try:
            network.remove_network(req.engine.root, net.name, store=store)
            deleted.append(net.name)
        except (ConflictError, NotFoundError):
            continue
    return json_response({"NetworksDeleted": deleted or None})

"""``inspect`` documents: containers, images and networks in Docker's JSON shape.

One document per object, built here for every front end (``minicontainer inspect``, the
Engine API's ``GET /containers/{id}/json``...), with Docker's field names (moby's
api/swagger.yaml: ContainerInspectResponse, ImageInspect, NetworkResource), so that the
templates of Docker tutorials work unchanged: ``{{.State.Status}}``, ``{{.Config.Env}}``,
``{{.NetworkSettings.IPAddress}}``, ``{{index .Config.Labels "k"}}``, ``{{range .Mounts}}``.
Fields Docker has and minicontainer does not (restart policies, log drivers other than
json-file) carry Docker's value for "not used".
"""

from __future__ import annotations

import hashlib
import json
import time

from ..oci import annotations as A
from .containers import Container
from .state import Status


def rfc3339(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1e9):09d}Z"


def _json_list(notes: dict, key: str) -> list:
    return json.loads(notes[key]) if notes.get(key) else []


def _ports(notes: dict, net: dict) -> dict:
    """NetworkSettings.Ports: ``"80/tcp": [{"HostIp", "HostPort"}]``; exposed but unpublished: null."""
    ports: dict = {p: None for p in _json_list(notes, A.EXPOSE)}
    for m in net.get("ports") or []:
        key = f"{m.get('container_port')}/{m.get('proto', 'tcp')}"
        ports.setdefault(key, None)
        ports[key] = (ports[key] or []) + [{"HostIp": m.get("host_ip") or "0.0.0.0",
                                            "HostPort": str(m.get("host_port", ""))}]
    return ports


def _port_bindings(notes: dict) -> dict:
    """HostConfig.PortBindings: what was asked for (-p), whether or not the container runs."""
    from ..network.ports import DEFAULT_HOST_IP, parse_publish
    out: dict = {}
    for spec in _json_list(notes, A.PUBLISH):
        m = parse_publish(spec)
        out.setdefault(f"{m.container_port}/{m.proto}", []).append(
            {"HostIp": "" if m.host_ip == DEFAULT_HOST_IP else m.host_ip, "HostPort": str(m.host_port or "")})
    return out


def _networks(mode: str, net: dict) -> dict:
    if not net.get("network"):
        return {mode: _endpoint({}, mode)} if mode in ("none", "host") else {}
    return {net["network"]: _endpoint(net, net["network"])}


def _endpoint(net: dict, name: str) -> dict:
    cid = net.get("container_id") or ""
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": net.get("mac") or "",
            "NetworkID": hashlib.sha256(name.encode()).hexdigest() if name in ("none", "host") else "",
            "EndpointID": hashlib.sha256(cid.encode()).hexdigest() if cid else "",
            "Gateway": net.get("gateway") or "", "IPAddress": net.get("ip") or "",
            "IPPrefixLen": net.get("prefix") or 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def _mounts(cfg: dict) -> list[dict]:
    out = []
    for v in cfg.get("volumes") or []:
        m = {"Type": v.get("type"), "Source": v.get("source", ""), "Destination": v.get("target"),
             "Mode": "ro" if v.get("readonly") else "", "RW": not v.get("readonly"), "Propagation": ""}
        if v.get("type") == "volume":
            m = {"Type": "volume", "Name": v.get("name", ""), **{k: m[k] for k in m if k != "Type"},
                 "Driver": "local"}
            m["Mode"] = m["Mode"] or "z"
        elif v.get("type") == "bind":
            m["Propagation"] = "rprivate"
        out.append(m)
    return out


def _limits(spec) -> dict:
    from ..oci.launch import resource_limits
    limits = resource_limits(spec.linux.resources) if spec.linux and spec.linux.resources else None
    return limits.to_dict() if limits is not None else {}


def container_json(c: Container) -> dict:
    """ContainerInspectResponse for ``c`` (its state as last refreshed by the caller): what
    decides how it runs from its config.json, what Docker shows of the request from its record."""
    cfg = c.config
    from ..oci.spec import Spec
    spec = c.readable_spec() or Spec()      # an empty one while its create has not written it
    notes = spec.annotations or {}
    mode = notes.get(A.NETWORK, "none")
    st = c.state
    net = c.extra.get("network") or {}
    limits = _limits(spec)
    sec = cfg.get("security") or {}
    volumes = cfg.get("volumes") or []
    live = st in (Status.RUNNING, Status.PAUSED)
    return {
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": c.command[0] if c.command else "",
        "Args": c.command[1:],
        "State": {
            "Status": st.value,
            "Running": live,
            "Paused": st is Status.PAUSED,
            "Restarting": False,
            "OOMKilled": bool(c.oom_killed),
            "Dead": st is Status.DEAD,
            "Pid": c.pid if live else 0,
            "ExitCode": c.exit_code if c.exit_code is not None else 0,
            "Error": "",
            "StartedAt": rfc3339(c.started_at),
            "FinishedAt": rfc3339(c.finished_at),
        },
        "Image": c.image_id,
        "ResolvConfPath": str(c.dir / "resolv.conf"),
        "HostnamePath": str(c.dir / "hostname"),
        "HostsPath": str(c.dir / "hosts"),
        "LogPath": str(c.dir / "container.log"),
        "Name": "/" + c.name,
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {
            "Binds": [f"{v['source']}:{v['target']}{':ro' if v.get('readonly') else ''}"
                      for v in volumes if v.get("type") == "bind"] or None,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": mode,
            "PortBindings": _port_bindings(notes),
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": bool(cfg.get("rm")),
            "CapAdd": list(sec.get("cap_add") or []) or None,
            "CapDrop": list(sec.get("cap_drop") or []) or None,
            "Privileged": bool(sec.get("privileged")),
            "PublishAllPorts": bool(_json_list(notes, A.EXPOSE)),
            "ReadonlyRootfs": bool(sec.get("read_only")),
            "SecurityOpt": _security_opt(sec),
            "UsernsMode": "" if sec.get("userns", "host") == "host" else sec["userns"],
            "Init": A.flag(notes, A.INIT),
            "Memory": limits.get("memory", 0),
            "MemorySwap": limits.get("memory_swap", 0),
            "NanoCpus": int(limits.get("cpus", 0) * 1e9),
            "CpuShares": limits.get("cpu_shares", 0),
            "PidsLimit": limits.get("pids_limit"),
            "CpusetCpus": limits.get("cpuset_cpus", ""),
            "Tmpfs": {v["target"]: v.get("options", "") for v in volumes if v.get("type") == "tmpfs"} or None,
        },
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": str(c.upper_dir), "WorkDir": str(c.work_dir),
                                                     "MergedDir": str(c.merged_dir)}},
        "Mounts": _mounts(cfg),
        "Config": {
            "Hostname": spec.hostname or "",
            "Domainname": "",
            "User": sec.get("user") or "",
            "AttachStdin": A.flag(notes, A.INTERACTIVE),
            "Tty": bool(spec.process and spec.process.terminal),
            "OpenStdin": A.flag(notes, A.INTERACTIVE),
            "StdinOnce": bool(cfg.get("stdin_once")),
            "ExposedPorts": {p: {} for p in _ports(notes, net)} or None,
            "Env": list(cfg.get("env") or []),
            "Cmd": list(c.command),
            "Image": c.image,
            "Volumes": {v["target"]: {} for v in volumes if v.get("type") == "volume"} or None,
            "WorkingDir": spec.process.cwd if spec.process else "/",
            "Entrypoint": None,
            "Labels": dict(cfg.get("labels") or {}),
            "StopSignal": cfg.get("stop_signal", "SIGTERM"),
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": f"/proc/{c.pid}/ns/net" if live and mode != "host" else "",
            "Ports": _ports(notes, net) if live else {},
            "IPAddress": net.get("ip") or "",
            "IPPrefixLen": net.get("prefix") or 0,
            "Gateway": net.get("gateway") or "",
            "MacAddress": net.get("mac") or "",
            "EndpointID": _endpoint(net, net.get("network", ""))["EndpointID"] if net.get("network") else "",
            "Networks": _networks(mode, net),
        },
    }


def _security_opt(sec: dict) -> list[str] | None:
    out = []
    if sec.get("seccomp") not in (None, "default"):
        out.append(f"seccomp={sec['seccomp']}")
    if sec.get("no_new_privs") is False:
        out.append("no-new-privileges=false")
    return out or None


def image_json(im, parent: str = "") -> dict:
    """ImageInspect for an image of the store (``parent``: the image it was built on, if known)."""
    cfg = dict(im.config)
    for key in ("Env", "Cmd", "Entrypoint", "Volumes", "ExposedPorts", "Labels", "OnBuild"):
        cfg.setdefault(key, None)
    cfg.setdefault("WorkingDir", "")
    cfg.setdefault("User", "")
    return {"Id": im.id, "RepoTags": list(im.repo_tags), "RepoDigests": [], "Parent": parent,
            "Comment": (im.history[-1].get("comment", "") if im.history else ""), "Created": im.created,
            "DockerVersion": "", "Author": im.raw.get("author", ""), "Config": cfg,
            "Architecture": im.raw.get("architecture", ""), "Os": im.raw.get("os", "linux"),
            "Size": im.size, "VirtualSize": im.size,
            "GraphDriver": {"Name": "overlay",
                            "Data": {"LowerDir": ":".join(str(p) for p in reversed(im.layer_dirs))}},
            "RootFS": {"Type": "layers", "Layers": list(im.diff_ids)},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}


def network_json(net, endpoints) -> dict:
    """NetworkResource for a bridge network of the store; ``endpoints``: the root's endpoint records
    (those on this network are its Containers)."""
    from ..network.endpoint import address_of
    members = {ep.container_id: {"Name": ep.name, "EndpointID": hashlib.sha256(ep.container_id.encode()).hexdigest(),
                                 "MacAddress": ep.mac or "", "IPv4Address": address_of(ep) or "", "IPv6Address": ""}
               for ep in endpoints if ep.network == net.name}
    return {"Name": net.name, "Id": net.id, "Created": rfc3339(net.created), "Scope": "local", "Driver": "bridge",
            "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
            "Internal": bool(getattr(net, "internal", False)), "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": members,
            "Options": {"com.docker.network.bridge.name": net.bridge}, "Labels": {}}


KINDS = ("container", "image", "network", "volume")


def find_document(rt, ref: str, kind: str | None = None) -> dict:
    """The inspect document of ``ref``, looked up as ``docker inspect`` does: a container, else an
    image, a network, a volume (only ``kind`` when given). NotFoundError names what was looked for."""
    from ..errors import NotFoundError, UsageError
    for each in (kind,) if kind else KINDS:
        try:
            return _lookup(rt, ref, each)
        except NotFoundError:
            if kind:
                raise NotFoundError(f"no such {kind}: {ref}", op="inspect") from None
        except UsageError:       # not even a valid name of that kind
            if kind:
                raise
    raise NotFoundError(f"no such object: {ref}", op="inspect")


def _lookup(rt, ref: str, kind: str) -> dict:
    if kind == "container":
        return container_json(rt.refresh(rt.containers.get(ref)))
    if kind == "image":
        from ..images.listing import lineage
        store = rt.images()
        im = store.resolve(ref)
        return image_json(im, lineage(store.list()).get(im.id, ""))
    if kind == "network":
        from ..network import NetworkStore
        from ..network.endpoint import endpoints
        store = NetworkStore(rt.root)
        return network_json(store.inspect(ref), endpoints(store))
    from .volumes import VolumeStore
    store = VolumeStore(rt.root)
    return store.get(ref).to_json(store.users(ref))

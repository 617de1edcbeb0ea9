"""``/info``, ``/system/df``, ``/events`` and ``/build/prune``: the host as the API describes it.

``docker info`` prints what the engine reports about its host: counts of containers and
images, the storage driver (overlayfs with many lower directories, which is what Docker
calls ``overlay2``), the cgroup version and driver, the kernel and OS, CPUs and memory,
the security options in force. Everything here is *measured* on the running host (the
cgroup layout by :func:`minicontainer.cgroups.detect`, the OS from ``os-release(5)``, the
memory from ``/proc/meminfo``), never written in.

``/events`` streams the library's event log (:mod:`minicontainer.events`), so a
``docker events`` window shows what the CLI did as well as what went through the engine.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

from .. import events, paths
from . import kit
from .routes import json_response, raw_stream, route


# -- facts about the host ----------------------------------------------------------
def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def os_release(etc_root: Path = paths.ETC_ROOT) -> dict[str, str]:
    """``/etc/os-release`` (os-release(5)) as a dict, quotes removed."""
    out = {}
    for line in _read(etc_root / "os-release").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def mem_total(proc_root: Path = paths.PROC_ROOT) -> int:
    for line in _read(proc_root / "meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def backing_filesystem(path: Path, proc_root: Path = paths.PROC_ROOT) -> str:
    """The type of the filesystem holding ``path`` (the longest mount point above it, from /proc/self/mounts)."""
    best, kind = "", "unknown"
    target = str(path)
    for line in _read(proc_root / "self" / "mounts").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mnt = fields[1].replace("\\040", " ")
        if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, kind = mnt, fields[2]
    return kind


def cgroup_facts(cgroup_root: Path = paths.CGROUP_ROOT, proc_root: Path = paths.PROC_ROOT) -> dict:
    """CgroupVersion and which limits the host's controllers allow (docker info's warnings come from these)."""
    from ..cgroups import detect
    from ..errors import MiniContainerError
    try:
        layout = detect(cgroup_root, proc_root)
    except MiniContainerError:
        return {"CgroupVersion": "", "controllers": set()}
    if layout.backend == "v2":
        ctrls = set(layout.unified.controllers) if layout.unified is not None else set()
        return {"CgroupVersion": "2", "controllers": ctrls}
    return {"CgroupVersion": "1", "controllers": set(layout.v1)}


def engine_id(root: Path) -> str:
    """This state root's engine ID (Docker's ``ID``), made once and kept in ``<root>/engine-id``."""
    path = Path(root) / "engine-id"
    text = _read(path).strip()
    if text:
        return text
    new = str(uuid.uuid4())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return _read(path).strip() or new
    with os.fdopen(fd, "w") as f:
        f.write(new + "\n")
    return new


def container_counts(rt) -> dict[str, int]:
    counts = {"running": 0, "paused": 0, "stopped": 0}
    listed = rt.containers.list()
    for c in listed:
        state = rt.refresh(c).status
        counts["running" if state == "running" else "paused" if state == "paused" else "stopped"] += 1
    return {"Containers": len(listed), "ContainersRunning": counts["running"],
            "ContainersPaused": counts["paused"], "ContainersStopped": counts["stopped"]}


def info_document(engine) -> dict:
    from .. import __version__
    from ..images.store import ImageStore
    from ..security import rootless
    root = Path(engine.root)
    uname = os.uname()
    release = os_release()
    cg = cgroup_facts()
    ctrls = cg["controllers"]
    rootless_mode = rootless.active()
    security = ["name=seccomp,profile=builtin", "name=cgroupns"] + (["name=rootless"] if rootless_mode else [])
    from ..images.busybox import arch
    return {
        "ID": engine_id(root), **container_counts(engine.runtime), "Images": len(ImageStore(root).list()),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", backing_filesystem(root)], ["Supports d_type", "true"],
                         ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": "memory" in ctrls, "SwapLimit": "memory" in ctrls, "KernelMemoryTCP": False,
        "CpuCfsPeriod": "cpu" in ctrls, "CpuCfsQuota": "cpu" in ctrls, "CPUShares": "cpu" in ctrls,
        "CPUSet": "cpuset" in ctrls, "PidsLimit": "pids" in ctrls, "OomKillDisable": False,
        "IPv4Forwarding": _read(paths.PROC_ROOT / "sys/net/ipv4/ip_forward").strip() == "1",
        "BridgeNfIptables": False, "BridgeNfIp6tables": False, "Debug": False,
        "NFd": len(os.listdir(paths.PROC_ROOT / "self" / "fd")), "NGoroutines": threading.active_count(),
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + time.strftime("%z")[:3] + ":"
        + time.strftime("%z")[3:],
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs" if cg["CgroupVersion"] else "none",
        "CgroupVersion": cg["CgroupVersion"], "NEventsListener": _listeners.count,
        "KernelVersion": uname.release, "OperatingSystem": release.get("PRETTY_NAME", "Linux"),
        "OSVersion": release.get("VERSION_ID", ""), "OSType": "linux", "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 1, "MemTotal": mem_total(),
        "IndexServerAddress": "", "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [],
                                                     "AllowNondistributableArtifactsHostnames": [],
                                                     "InsecureRegistryCIDRs": [], "IndexConfigs": {},
                                                     "Mirrors": []},
        "GenericResources": None, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"minicontainer": {"path": "minicontainer"}}, "DefaultRuntime": "minicontainer",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,        # containers outlive the engine (their monitor stays)
        "Isolation": "", "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""}, "SecurityOptions": security, "DefaultAddressPools": [],
        "Warnings": [f"WARNING: No {what} support" for what, ok in
                     (("memory limit", "memory" in ctrls), ("cpu cfs quota", "cpu" in ctrls)) if not ok],
        "CDISpecDirs": [], "DockerRootDir": str(root), "Containerd": None,
        "PlatformArch": arch(),
    }


@route("GET", "/info")
def info(req):
    return json_response(info_document(req.engine))


# -- disk usage ----------------------------------------------------------------------
def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (apparent sizes, links counted once)."""
    total, seen = 0, set()
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


@route("GET", "/system/df")
def system_df(req):
    from ..images.store import ImageStore
    from ..runtime.volumes import VolumeStore
    from ..images.listing import lineage
    from .images import summary, users_by_image
    root = Path(req.engine.root)
    kinds = set(req.args("type")) or {"container", "image", "volume", "build-cache"}
    out: dict = {"LayersSize": 0, "Images": None, "Containers": None, "Volumes": None, "BuildCache": None}
    store = ImageStore(root)
    if "image" in kinds:
        images = store.list()
        users, parents = users_by_image(root), lineage(images)
        out["Images"] = [summary(im, parents.get(im.id, ""), len(users.get(im.id, []))) for im in images]
        out["LayersSize"] = tree_size(store.blobs) if store.blobs.is_dir() else 0
    if "container" in kinds:
        from .containers import sizes
        rt = req.engine.runtime
        out["Containers"] = []
        for c in rt.containers.list():
            c = rt.refresh(c)
            out["Containers"].append({
                "Id": c.id, "Names": [f"/{c.name}"], "Image": c.image, "ImageID": c.image_id,
                "Command": " ".join(c.command), "Created": int(c.created), "State": c.status,
                "Status": c.status, **sizes(rt, c),
                "Labels": dict(c.config.get("labels") or {}), "Mounts": []})
    if "volume" in kinds:
        vstore = VolumeStore(root)
        out["Volumes"] = [{**v.to_json(), "UsageData": {"Size": tree_size(v.data), "RefCount": len(vstore.users(v.name))}}
                          for v in vstore.ls()]
    if "build-cache" in kinds:
        out["BuildCache"] = []
    return json_response(out)


@route("POST", "/build/prune")
def build_prune(req):
    """The classic builder's cache is its intermediate images; this forgets cache entries whose image
    is gone (``all``: every entry), so ``docker system prune`` has something true to say."""
    from ..build.cache import BuildCache
    from ..images.store import ImageStore
    kit.filters(req, ("until", "id", "parent", "type", "description", "inuse", "shared", "private"))
    gone = BuildCache(req.engine.root).prune(ImageStore(req.engine.root), everything=req.flag("all"))
    return json_response({"CachesDeleted": gone or None, "SpaceReclaimed": 0})


# -- events --------------------------------------------------------------------------
class _Listeners:
    """How many ``/events`` streams are open (``docker info``'s NEventsListener)."""

    def __init__(self):
        self.count, self._lock = 0, threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n


_listeners = _Listeners()


@route("GET", "/events")
def events_stream(req):
    """``docker events``: past events from ``since``, then new ones until ``until`` or the client leaves."""
    filters = events.check_filters(req.filters())
    since = events.parse_time(req.arg("since"))
    until = events.parse_time(req.arg("until"))
    import json

    def chunks():
        _listeners.add(1)
        try:
            for event in events.follow(req.engine.root, since, until, filters, stop=req.disconnected, poll=0.1):
                if event is not None:
                    yield json.dumps(event).encode() + b"\n"
                else:
                    yield b""
        finally:
            _listeners.add(-1)
    return raw_stream(chunks(), "application/json")

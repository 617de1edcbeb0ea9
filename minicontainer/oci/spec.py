"""The OCI runtime-spec's ``config.json``, as typed dataclasses (runtime-spec config.md, config-linux.md).

Each class below is one object of the specification. A field's JSON name is in its
metadata; ``from_json`` checks every value's type and names the field that is wrong
(``process.user.uid: expected an integer``), ``to_json`` writes the same document back.

Two kinds of property are treated differently, as the specification asks
("Extensibility": a runtime MUST ignore properties it does not know):

* a property the specification does **not** define is ignored;
* a property the specification defines but minicontainer does not implement (hooks,
  ``linux.intelRdt``, ``process.apparmorProfile``...) is refused, naming it, as soon as
  it has a value: a container must never run with a setting silently dropped.

Only the standard library is used: this is on the container start path.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from ..errors import UsageError


def f(name: str, kind, default=None, factory=None):
    """A field stored under JSON ``name``; ``kind`` is a type name or a spec class (``[cls]`` for a list)."""
    meta = {"json": name, "kind": kind}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _bad(where: str, what: str) -> UsageError:
    return UsageError(f"{where}: {what}", op="config.json")


def _value(kind, raw, where: str):
    if isinstance(kind, list):
        if not isinstance(raw, list):
            raise _bad(where, "expected a list")
        return [_value(kind[0], item, f"{where}[{n}]") for n, item in enumerate(raw)]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return load(kind, raw, where)
    if kind == "str":
        if not isinstance(raw, str):
            raise _bad(where, "expected a string")
    elif kind == "int":
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise _bad(where, "expected an integer")
    elif kind == "bool":
        if not isinstance(raw, bool):
            raise _bad(where, "expected true or false")
    elif kind == "strmap":
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise _bad(where, "expected an object of strings")
        return dict(raw)
    elif kind == "any":
        return raw
    return raw


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def load(cls, data, where: str):
    """``cls`` from a decoded JSON object, every field checked (UsageError naming the field)."""
    if not isinstance(data, dict):
        raise _bad(where, "expected an object")
    for name in getattr(cls, "UNSUPPORTED", ()):
        if data.get(name) not in (None, "", [], {}, 0, False):
            raise UsageError(f"{_join(where, name)} is not supported by minicontainer", op="config.json")
    values = {}
    for fld in dataclasses.fields(cls):
        key = fld.metadata["json"]
        if key in data and data[key] is not None:
            values[fld.name] = _value(fld.metadata["kind"], data[key], _join(where, key))
    return cls(**values)


def dump(obj) -> dict:
    """The JSON object of a spec dataclass, without the fields left unset."""
    out = {}
    for fld in dataclasses.fields(obj):
        value = getattr(obj, fld.name)
        if value is None or (value in ([], {}) and fld.name not in getattr(obj, "KEEP_EMPTY", ())):
            continue
        out[fld.metadata["json"]] = _dump_value(value)
    return out


def _dump_value(value):
    if isinstance(value, list):
        return [_dump_value(v) for v in value]
    if dataclasses.is_dataclass(value):
        return dump(value)
    return value


# --------------------------------------------------------------------------- process
@dataclass
class User:
    """process.user: numeric ids (a name was resolved by whoever wrote the config)."""

    uid: int = f("uid", "int", 0)
    gid: int = f("gid", "int", 0)
    umask: int | None = f("umask", "int")
    additional_gids: list[int] = f("additionalGids", ["int"], factory=list)
    UNSUPPORTED = ("username",)   # Windows only


@dataclass
class Capabilities:
    """process.capabilities: the five sets of capabilities(7), by ``CAP_*`` name."""

    bounding: list[str] = f("bounding", ["str"], factory=list)
    effective: list[str] = f("effective", ["str"], factory=list)
    inheritable: list[str] = f("inheritable", ["str"], factory=list)
    permitted: list[str] = f("permitted", ["str"], factory=list)
    ambient: list[str] = f("ambient", ["str"], factory=list)


@dataclass
class Rlimit:
    """process.rlimits[]: setrlimit(2) of one resource (``RLIMIT_NOFILE``...)."""

    type: str = f("type", "str", "")
    soft: int = f("soft", "int", 0)
    hard: int = f("hard", "int", 0)


@dataclass
class ConsoleSize:
    """process.consoleSize: the terminal's rows and columns."""

    height: int = f("height", "int", 0)
    width: int = f("width", "int", 0)


@dataclass
class Process:
    """process: what runs in the container and with which privileges."""

    args: list[str] = f("args", ["str"], factory=list)
    env: list[str] = f("env", ["str"], factory=list)
    cwd: str = f("cwd", "str", "/")
    user: User = f("user", User, factory=User)
    terminal: bool = f("terminal", "bool", False)
    console_size: ConsoleSize | None = f("consoleSize", ConsoleSize)
    capabilities: Capabilities | None = f("capabilities", Capabilities)
    rlimits: list[Rlimit] = f("rlimits", [Rlimit], factory=list)
    no_new_privileges: bool = f("noNewPrivileges", "bool", False)
    oom_score_adj: int | None = f("oomScoreAdj", "int")
    KEEP_EMPTY = ("args",)      # required by the spec: written even when empty
    UNSUPPORTED = ("apparmorProfile", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity",
                   "commandLine")


# --------------------------------------------------------------------------- root, mounts, hooks
@dataclass
class Root:
    """root: the container's root directory (relative paths are relative to the bundle)."""

    path: str = f("path", "str", "rootfs")
    readonly: bool = f("readonly", "bool", False)


@dataclass
class Mount:
    """mounts[]: mount(2) of ``source`` at ``destination`` (inside the root) with mount(8)-style options."""

    destination: str = f("destination", "str", "")
    type: str | None = f("type", "str")
    source: str | None = f("source", "str")
    options: list[str] = f("options", ["str"], factory=list)
    UNSUPPORTED = ("uidMappings", "gidMappings")


@dataclass
class Hooks:
    """hooks: programs run at points of the lifecycle. None is supported: any hook is refused."""

    UNSUPPORTED = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


# --------------------------------------------------------------------------- linux
@dataclass
class Namespace:
    """linux.namespaces[]: a namespace to create, or to join when ``path`` names one."""

    type: str = f("type", "str", "")
    path: str | None = f("path", "str")


@dataclass
class IDMapping:
    """linux.uidMappings[] / gidMappings[]: one line of /proc/PID/uid_map (user_namespaces(7))."""

    container_id: int = f("containerID", "int", 0)
    host_id: int = f("hostID", "int", 0)
    size: int = f("size", "int", 0)


@dataclass
class Device:
    """linux.devices[]: a device node to create in the container's /dev."""

    path: str = f("path", "str", "")
    type: str = f("type", "str", "c")
    major: int = f("major", "int", 0)
    minor: int = f("minor", "int", 0)
    file_mode: int | None = f("fileMode", "int")
    uid: int | None = f("uid", "int")
    gid: int | None = f("gid", "int")


@dataclass
class DeviceRule:
    """linux.resources.devices[]: one rule of the devices cgroup (allow or deny, type, numbers, rwm)."""

    allow: bool = f("allow", "bool", False)
    type: str | None = f("type", "str")
    major: int | None = f("major", "int")
    minor: int | None = f("minor", "int")
    access: str | None = f("access", "str")


@dataclass
class Memory:
    """linux.resources.memory: bytes; ``swap`` is memory plus swap, as cgroup v1 counts it."""

    limit: int | None = f("limit", "int")
    swap: int | None = f("swap", "int")
    UNSUPPORTED = ("reservation", "kernel", "kernelTCP", "swappiness", "disableOOMKiller", "checkBeforeUpdate")


@dataclass
class Cpu:
    """linux.resources.cpu: CFS quota per period (µs), relative shares, a cpuset."""

    shares: int | None = f("shares", "int")
    quota: int | None = f("quota", "int")
    period: int | None = f("period", "int")
    cpus: str | None = f("cpus", "str")
    UNSUPPORTED = ("realtimeRuntime", "realtimePeriod", "mems", "idle", "burst")


@dataclass
class Pids:
    """linux.resources.pids: the most tasks the cgroup may hold (-1 or 0: no limit)."""

    limit: int | None = f("limit", "int")


@dataclass
class Resources:
    """linux.resources: what the container's cgroup limits."""

    devices: list[DeviceRule] = f("devices", [DeviceRule], factory=list)
    memory: Memory | None = f("memory", Memory)
    cpu: Cpu | None = f("cpu", Cpu)
    pids: Pids | None = f("pids", Pids)
    UNSUPPORTED = ("blockIO", "hugepageLimits", "network", "rdma", "unified")


@dataclass
class SeccompArg:
    """linux.seccomp.syscalls[].args[]: a condition on one argument."""

    index: int = f("index", "int", 0)
    value: int = f("value", "int", 0)
    value_two: int = f("valueTwo", "int", 0)
    op: str = f("op", "str", "")


@dataclass
class SeccompSyscall:
    """linux.seccomp.syscalls[]: system calls that get one action."""

    names: list[str] = f("names", ["str"], factory=list)
    action: str = f("action", "str", "")
    errno_ret: int | None = f("errnoRet", "int")
    args: list[SeccompArg] = f("args", [SeccompArg], factory=list)


@dataclass
class Seccomp:
    """linux.seccomp: the filter installed right before execve (seccomp(2))."""

    default_action: str = f("defaultAction", "str", "")
    default_errno_ret: int | None = f("defaultErrnoRet", "int")
    architectures: list[str] = f("architectures", ["str"], factory=list)
    syscalls: list[SeccompSyscall] = f("syscalls", [SeccompSyscall], factory=list)
    UNSUPPORTED = ("flags", "listenerPath", "listenerMetadata")


@dataclass
class Linux:
    """linux: the Linux-only part of the configuration (config-linux.md)."""

    namespaces: list[Namespace] = f("namespaces", [Namespace], factory=list)
    uid_mappings: list[IDMapping] = f("uidMappings", [IDMapping], factory=list)
    gid_mappings: list[IDMapping] = f("gidMappings", [IDMapping], factory=list)
    devices: list[Device] = f("devices", [Device], factory=list)
    cgroups_path: str | None = f("cgroupsPath", "str")
    resources: Resources | None = f("resources", Resources)
    rootfs_propagation: str | None = f("rootfsPropagation", "str")
    seccomp: Seccomp | None = f("seccomp", Seccomp)
    sysctl: dict[str, str] = f("sysctl", "strmap", factory=dict)
    masked_paths: list[str] = f("maskedPaths", ["str"], factory=list)
    readonly_paths: list[str] = f("readonlyPaths", ["str"], factory=list)
    UNSUPPORTED = ("intelRdt", "personality", "timeOffsets", "mountLabel", "memoryPolicy", "netDevices")


@dataclass
class Spec:
    """config.json: the whole configuration of one container."""

    oci_version: str = f("ociVersion", "str", "")
    process: Process | None = f("process", Process)
    root: Root | None = f("root", Root)
    hostname: str | None = f("hostname", "str")
    mounts: list[Mount] = f("mounts", [Mount], factory=list)
    hooks: Hooks | None = f("hooks", Hooks)
    annotations: dict[str, str] = f("annotations", "strmap", factory=dict)
    linux: Linux | None = f("linux", Linux)
    UNSUPPORTED = ("domainname", "solaris", "windows", "vm", "zos")

    @classmethod
    def from_dict(cls, data) -> "Spec":
        return load(cls, data, "")

    @classmethod
    def from_json(cls, text: str | bytes) -> "Spec":
        try:
            data = json.loads(text)
        except ValueError as err:
            raise UsageError(f"invalid JSON: {str(err).lower()}", op="config.json") from err
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        out = dump(self)
        out.pop("hooks", None)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

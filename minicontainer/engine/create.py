"""``POST /containers/create``: Docker's container config, read onto :class:`RunOptions`.

The body has two halves (moby api/swagger.yaml, ``ContainerConfig`` and ``HostConfig``):
what runs (Cmd, Entrypoint, Env, WorkingDir, User, Tty, OpenStdin, Labels...) and how it
is isolated (limits, capabilities, mounts, ports, network). A client sends every field,
most at their zero value. A field this runtime does not implement is accepted only at
its zero value (or at the value that means "Docker's default"); with any other value
the request is refused *by name* (400): a container with less isolation than asked for,
or different isolation, must not start silently.
"""

from __future__ import annotations

from ..errors import UsageError

# Config fields that carry no isolation decision (accepted whatever their value)
CONFIG_IGNORED = {"Image", "AttachStdin", "AttachStdout", "AttachStderr", "ArgsEscaped",
                  "Domainname", "OnBuild", "Shell", "HostConfig", "NetworkingConfig"}
CONFIG_USED = {"Hostname", "User", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels",
               "ExposedPorts", "Volumes"}
HOST_USED = {"Binds", "Mounts", "PortBindings", "PublishAllPorts", "NetworkMode", "AutoRemove", "Init",
             "Memory", "MemorySwap", "NanoCpus", "CpuQuota", "CpuPeriod", "CpuShares", "PidsLimit",
             "CpusetCpus", "CapAdd", "CapDrop", "SecurityOpt", "ReadonlyRootfs", "Privileged", "Tmpfs",
             "RestartPolicy", "LogConfig", "UsernsMode"}
# HostConfig fields that are harmless whatever the client sends
HOST_IGNORED = {"ConsoleSize", "ContainerIDFile", "VolumeDriver", "Annotations"}
# fields whose "default" values are not the zero value
DEFAULTS = {"MemorySwappiness": (-1,), "Isolation": ("default",), "CgroupnsMode": ("private",),
            "IpcMode": ("private", "shareable"), "CpuPercent": (0,), "MacAddress": ("",)}
NETWORKS = ("bridge", "host", "none", "default")


def _zero(value) -> bool:
    return value in (None, "", 0, False, [], {}) or (isinstance(value, dict) and all(_zero(v) for v in value.values()))


def refused(section: str, body: dict, used: set, ignored: set) -> list[str]:
    """The names (``HostConfig.PidMode``) of fields set to a value this runtime cannot honour."""
    out = []
    for key, value in (body or {}).items():
        if key in used or key in ignored or _zero(value) or value in DEFAULTS.get(key, ()):
            continue
        out.append(f"{section}.{key}")
    return out


def _list(value) -> list:
    return list(value or [])


def _publish(port_bindings: dict) -> list[str]:
    """``{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}`` -> ``["127.0.0.1:8080:80/tcp"]``."""
    out = []
    for key, binds in (port_bindings or {}).items():
        port, _, proto = str(key).partition("/")
        for b in binds or [{}]:
            host_ip, host_port = (b or {}).get("HostIp") or "", (b or {}).get("HostPort") or ""
            spec = f"{host_ip}:{host_port}:{port}" if host_ip else (f"{host_port}:{port}" if host_port else port)
            out.append(spec + (f"/{proto}" if proto and proto != "tcp" else ""))
    return out


def _mounts(mounts: list) -> tuple[list[str], list[str]]:
    """HostConfig.Mounts (``--mount``) -> -v and --tmpfs strings."""
    volumes, tmpfs = [], []
    for m in mounts or []:
        kind, target = m.get("Type", "volume"), m.get("Target") or ""
        ro = ":ro" if m.get("ReadOnly") else ""
        if kind == "bind":
            volumes.append(f"{m.get('Source')}:{target}{ro}")
        elif kind == "volume":
            volumes.append(f"{m['Source']}:{target}{ro}" if m.get("Source") else target)
        elif kind == "tmpfs":
            size = (m.get("TmpfsOptions") or {}).get("SizeBytes")
            tmpfs.append(target + (f":size={size}" if size else ""))
        else:
            raise UsageError(f"mount type {kind!r} is not supported (bind, volume, tmpfs)", op="create")
    return volumes, tmpfs


def _limits(hc: dict):
    from ..cgroups.limits import build_limits
    cpus = None
    if hc.get("NanoCpus"):
        cpus = str(hc["NanoCpus"] / 1e9)
    elif hc.get("CpuQuota"):
        cpus = str(hc["CpuQuota"] / (hc.get("CpuPeriod") or 100000))
    pids = hc.get("PidsLimit")
    limits = build_limits(memory=str(hc["Memory"]) if hc.get("Memory") else None,
                          memory_swap=str(hc["MemorySwap"]) if hc.get("MemorySwap") else None,
                          cpus=cpus, cpu_shares=str(hc["CpuShares"]) if hc.get("CpuShares") else None,
                          pids_limit=str(pids) if pids not in (None, 0) else None,
                          cpuset_cpus=hc.get("CpusetCpus") or None)
    return None if limits.is_empty() else limits


def run_options(body: dict, name: str | None, default_network: str = "bridge"):
    """RunOptions for a create request; UsageError (400) naming every field that cannot be honoured."""
    from ..runtime import RunOptions
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object", op="create")
    hc = body.get("HostConfig") or {}
    if not isinstance(hc, dict):
        raise UsageError("HostConfig must be a JSON object", op="create")
    bad = refused("Config", body, CONFIG_USED, CONFIG_IGNORED) + refused("HostConfig", hc, HOST_USED, HOST_IGNORED)
    restart = (hc.get("RestartPolicy") or {}).get("Name") or "no"
    if restart != "no":
        bad.append(f"HostConfig.RestartPolicy.Name={restart}")
    log_type = (hc.get("LogConfig") or {}).get("Type") or "json-file"
    if log_type != "json-file":
        bad.append(f"HostConfig.LogConfig.Type={log_type}")
    if bad:
        raise UsageError("not supported by minicontainer (it would change the container's isolation or "
                         "behaviour): " + ", ".join(bad), op="create")
    if not body.get("Image"):
        raise UsageError("Config.Image is required", op="create")
    network = hc.get("NetworkMode") or "default"
    network = default_network if network == "default" else network
    volumes, tmpfs = _mounts(hc.get("Mounts"))
    volumes = _list(hc.get("Binds")) + volumes + [v for v in (body.get("Volumes") or {})
                                                  if not any(b.split(":")[1:2] == [v] for b in _list(hc.get("Binds")))]
    tmpfs += [f"{k}:{v}" if v else k for k, v in (hc.get("Tmpfs") or {}).items()]
    entrypoint = body.get("Entrypoint")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    userns = {"": "host", "host": "host", "private": "private"}.get(hc.get("UsernsMode") or "")
    if userns is None:
        raise UsageError(f"HostConfig.UsernsMode={hc.get('UsernsMode')} is not supported (host, private)",
                         op="create")
    opts = RunOptions(image=body["Image"], command=_list(cmd), name=name or None, env=_list(body.get("Env")),
                      workdir=body.get("WorkingDir") or None, hostname=body.get("Hostname") or None,
                      interactive=bool(body.get("OpenStdin")), stdin_once=bool(body.get("StdinOnce")),
                      tty=bool(body.get("Tty")),
                      rm=bool(hc.get("AutoRemove")), init=bool(hc.get("Init")), detach=True, network=network,
                      publish=_publish(hc.get("PortBindings")), publish_all=bool(hc.get("PublishAllPorts")),
                      limits=_limits(hc), volumes=volumes, tmpfs=tmpfs, cap_add=_list(hc.get("CapAdd")),
                      cap_drop=_list(hc.get("CapDrop")), privileged=bool(hc.get("Privileged")),
                      security_opt=_list(hc.get("SecurityOpt")), read_only=bool(hc.get("ReadonlyRootfs")),
                      user=body.get("User") or None, userns=userns)
    opts.entrypoint = None if entrypoint is None else list(entrypoint)
    opts.labels = dict(body.get("Labels") or {})
    return opts

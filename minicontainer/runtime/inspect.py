"""``inspect`` for containers: the record as Docker's JSON shape (the fields a user looks for)."""

from __future__ import annotations

import time

from .containers import Container
from .state import Status


def rfc3339(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1e9):09d}Z"


def container_json(c: Container) -> dict:
    cfg = c.config
    st = c.state
    net = c.extra.get("network") or {}
    limits = cfg.get("limits") or {}
    ports = {}
    for m in net.get("ports") or []:
        key = f"{m.get('container_port')}/{m.get('proto', 'tcp')}"
        ports.setdefault(key, []).append({"HostIp": m.get("host_ip", ""), "HostPort": str(m.get("host_port", ""))})
    return {
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": c.command[0] if c.command else "",
        "Args": c.command[1:],
        "State": {
            "Status": st.value,
            "Running": st in (Status.RUNNING, Status.PAUSED),
            "Paused": st is Status.PAUSED,
            "Dead": st is Status.DEAD,
            "Pid": c.pid if st in (Status.RUNNING, Status.PAUSED) else 0,
            "ExitCode": c.exit_code if c.exit_code is not None else 0,
            "OOMKilled": bool(c.oom_killed),
            "StartedAt": rfc3339(c.started_at),
            "FinishedAt": rfc3339(c.finished_at),
        },
        "Image": c.image_id,
        "Name": "/" + c.name,
        "Config": {
            "Hostname": cfg.get("hostname", ""),
            "Env": list(cfg.get("env") or []),
            "Cmd": list(c.command),
            "Image": c.image,
            "WorkingDir": cfg.get("workdir", "/"),
            "Tty": bool(cfg.get("tty")),
            "OpenStdin": bool(cfg.get("interactive")),
            "StopSignal": cfg.get("stop_signal", "SIGTERM"),
        },
        "HostConfig": {
            "NetworkMode": cfg.get("network", "none"),
            "AutoRemove": bool(cfg.get("rm")),
            "Init": bool(cfg.get("init")),
            "Memory": limits.get("memory", 0),
            "MemorySwap": limits.get("memory_swap", 0),
            "NanoCpus": int(limits.get("cpus", 0) * 1e9),
            "CpuShares": limits.get("cpu_shares", 0),
            "PidsLimit": limits.get("pids_limit"),
            "CpusetCpus": limits.get("cpuset_cpus", ""),
            "Binds": [f"{v['source']}:{v['target']}{':ro' if v.get('readonly') else ''}"
                      for v in cfg.get("volumes") or [] if v.get("type") == "bind"],
            "Tmpfs": {v["target"]: v.get("options", "") for v in cfg.get("volumes") or [] if v.get("type") == "tmpfs"},
        },
        "NetworkSettings": {
            "IPAddress": net.get("ip") or "",
            "Gateway": net.get("gateway") or "",
            "MacAddress": net.get("mac") or "",
            "Ports": ports,
            "Networks": {net["network"]: {"IPAddress": net.get("ip") or "", "Gateway": net.get("gateway") or ""}}
            if net.get("network") else {},
        },
        "Mounts": [{"Type": v.get("type"), "Name": v.get("name", ""), "Source": v.get("source", ""),
                    "Destination": v.get("target"), "RW": not v.get("readonly")}
                   for v in cfg.get("volumes") or []],
    }

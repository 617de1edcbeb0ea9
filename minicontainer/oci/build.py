"""``run``/``create``: the image's config plus the flags, as one OCI runtime-spec config.

This is what dockerd (through containerd) does before it calls runc: Docker's options
(``-u``, ``--cap-drop``, ``-m``, ``-v``, ``--read-only``...) become the plain, resolved
settings of config.json: numeric user ids (a name is looked up in the image's own
/etc/passwd now), the five capability sets, the seccomp filter's rules, the mounts in
order. The launcher then executes that config and nothing else.

What the runtime-spec has no field for travels in ``annotations`` (see :mod:`minicontainer.oci`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UsageError
from ..security import caps as _caps
from ..security.defaults import MASKED_PATHS, READONLY_PATHS
from . import annotations as A
from .mounts import options_for
from .spec import (Capabilities, Cpu, IDMapping, Linux, Memory, Mount, Namespace, Pids, Process, Resources,
                   Root, Seccomp, Spec, User)
from .validate import OCI_VERSION

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RO_KERNEL = ["nosuid", "noexec", "nodev", "ro"]


def default_mounts(*, readonly_proc_sys: bool = True) -> list[Mount]:
    """/proc, /sys, /dev, /dev/pts, /dev/shm: what every container gets (runc spec's defaults)."""
    ro = ["ro"] if readonly_proc_sys else []
    return [Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev", *ro]),
            Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", *ro]),
            Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            Mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"])]


def volume_mounts(volumes: list[dict]) -> list[Mount]:
    """``-v``/``--tmpfs`` records (:func:`minicontainer.runtime.volumes.mounts_for`) as spec mounts."""
    out = []
    for vol in volumes:
        if vol["type"] == "tmpfs":
            out.append(Mount(vol["target"], "tmpfs", "tmpfs", options_for(vol.get("flags", 0), vol.get("data") or "")))
        else:
            out.append(Mount(vol["target"], "bind", vol["source"], ["rbind", *(["ro"] if vol.get("readonly") else [])]))
    return out


def resources_for(limits) -> Resources | None:
    """cgroup :class:`~minicontainer.cgroups.Limits` as linux.resources."""
    if limits is None or limits.is_empty():
        return None
    res = Resources()
    if limits.memory is not None or limits.memory_swap is not None:
        res.memory = Memory(limit=limits.memory, swap=limits.memory_swap)
    if limits.cpus is not None or limits.cpu_shares is not None or limits.cpuset_cpus is not None:
        res.cpu = Cpu(shares=limits.cpu_shares, cpus=limits.cpuset_cpus,
                      quota=limits.cpu_quota_us(), period=limits.period_us() if limits.cpus is not None else None)
    if limits.pids_limit is not None:
        res.pids = Pids(limit=limits.pids_limit)
    return res


def seccomp_for(source: str, keep: list[str], privileged: bool) -> tuple[Seccomp | None, str]:
    """The filter's rules for a ``--security-opt seccomp=`` source, with Docker's ``includes``
    and ``excludes`` already decided for the capabilities the container keeps."""
    if privileged or source == "unconfined":
        return None, "unconfined"
    from ..security.profile import load, resolve
    from .spec import load as load_spec
    if source == "default":
        from ..security.defaults import DEFAULT_PROFILE
        profile, label = resolve(DEFAULT_PROFILE, keep), "default profile"
    else:
        profile, label = load(source, keep), source
    return load_spec(Seccomp, profile.to_oci(), "linux.seccomp"), label


def etc_mounts(container_dir, network: str) -> list[Mount]:
    """The container's own /etc/hosts and /etc/hostname, and /etc/resolv.conf when it has a
    network, bound from files in its directory (the runtime writes and rewrites them)."""
    etc = ["/etc/hosts", "/etc/hostname"] + (["/etc/resolv.conf"] if network != "none" else [])
    return [Mount(inside, "bind", str(Path(container_dir) / os.path.basename(inside)), ["rbind"]) for inside in etc]


def confinement(sec: dict, proc_root: Path) -> tuple[Capabilities, Seccomp | None, str]:
    """process.capabilities and linux.seccomp (with where the filter came from) for Docker's
    security options as :func:`minicontainer.security.config_for` checked them."""
    keep = _caps.resolve(sec["cap_add"], sec["cap_drop"], sec["privileged"], _caps.read_last_cap(proc_root))
    caps = Capabilities(bounding=list(keep), effective=list(keep), inheritable=list(keep), permitted=list(keep))
    seccomp, label = seccomp_for(sec["seccomp"], keep, sec["privileged"])
    return caps, seccomp, label


def _user(spec_text: str | None, layers: list[Path]) -> tuple[int, int, list[int], str]:
    """(uid, gid, groups, home) of ``-u`` (or root) from the image's own /etc/passwd and /etc/group."""
    from ..build.filesteps import lower_path
    from ..runtime.users import resolve_user
    top_first = list(reversed(layers))
    passwd = lower_path(top_first, "etc/passwd") if top_first else None
    group = lower_path(top_first, "etc/group") if top_first else None
    text = spec_text or "0"
    if passwd is None and not text.split(":")[0].isdigit() and not any(p.exists() for p in layers):
        return 1000, 1000, [1000], "/home/user"   # a dry run's placeholder image: a stand-in user
    uid, gid, groups, home = resolve_user(text, str(passwd or "/nonexistent/passwd"),
                                          str(group or "/nonexistent/group"))
    return uid, gid, groups, ("/root" if spec_text is None else home)


def build(image, opts, *, container_id: str, container_dir: Path, hostname: str, volumes: list[dict],
          proc_root: Path, rootless: bool) -> Spec:
    """The config.json of a new container of ``image`` run with ``opts`` (a RunOptions)."""
    from ..runtime.options import command_for, image_env, parse_env
    from ..runtime.volumes import mounts_for
    sec = opts.security_config()
    if opts.user is None and image.config.get("User"):   # the image's USER, as docker run applies it
        sec["user"] = image.config["User"]
    layers = [Path(p) for p in image.layer_dirs]
    uid, gid, groups, home = _user(sec.get("user"), layers)
    env = image_env(image.config)
    env.setdefault("PATH", DEFAULT_PATH)
    env["HOSTNAME"] = hostname
    if opts.tty:
        env.setdefault("TERM", "xterm")
    user_env = parse_env(opts.env)
    env.update(user_env)
    if "HOME" not in user_env and (sec.get("user") is not None or "HOME" not in env):
        env["HOME"] = home
    caps, seccomp, label = confinement(sec, proc_root)
    process = Process(args=command_for(image.config, opts.command, opts.entrypoint),
                      env=[f"{k}={v}" for k, v in env.items()], terminal=bool(opts.tty),
                      cwd=opts.workdir or image.config.get("WorkingDir") or "/",
                      user=User(uid=uid, gid=gid, additional_gids=list(groups)),   # with gid, as -u always had
                      capabilities=caps, no_new_privileges=bool(sec["no_new_privs"]))
    mounts = default_mounts(readonly_proc_sys=not sec["privileged"])
    mounts += etc_mounts(container_dir, opts.network)
    if sec["read_only"]:   # somewhere to write, under a read-only root (as Docker's --read-only users expect)
        mounts += [Mount("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=1777", "size=65536k"]),
                   Mount("/run", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=755", "size=65536k"])]
    mounts += volume_mounts(mounts_for(volumes))
    kinds = ["pid", "ipc", "uts", "mount", "cgroup"] + ([] if opts.network == "host" else ["network"])
    linux = Linux(namespaces=[Namespace(k) for k in kinds], cgroups_path=f"minicontainer/{container_id}",
                  resources=resources_for(opts.limits))
    if not sec["privileged"]:
        linux.masked_paths, linux.readonly_paths = list(MASKED_PATHS), list(READONLY_PATHS)
    linux.seccomp = seccomp
    if rootless or sec["userns"] == "private":
        if not rootless:
            raise UsageError("--userns private is only supported in rootless mode (run as an ordinary user)",
                             op="userns")
        from ..security.userns import plan_for
        plan = plan_for(proc_root=proc_root)
        linux.namespaces.insert(0, Namespace("user"))
        linux.uid_mappings = [IDMapping(*m) for m in plan.uid_map]
        linux.gid_mappings = [IDMapping(*m) for m in plan.gid_map]
    notes = {A.LAYERS: json.dumps([str(p) for p in layers]), A.UPPER: str(Path(container_dir) / "upper"),
             A.WORK: str(Path(container_dir) / "work"), A.NETWORK: opts.network, A.SECCOMP: label}
    if opts.publish:
        notes[A.PUBLISH] = json.dumps(list(opts.publish))
    if opts.publish_all and image.config.get("ExposedPorts"):
        notes[A.EXPOSE] = json.dumps(sorted(image.config["ExposedPorts"]))
    if opts.init:
        notes[A.INIT] = "true"
    if opts.interactive:
        notes[A.INTERACTIVE] = "true"
    return Spec(oci_version=OCI_VERSION, process=process, hostname=hostname, mounts=mounts, annotations=notes,
                root=Root(path=str(Path(container_dir) / "merged"), readonly=bool(sec["read_only"])), linux=linux)


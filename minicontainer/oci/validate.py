"""Checking a ``config.json`` before anything is created, in the spirit of runc's
libcontainer/configs/validate: every rule here is one the kernel or the specification
would otherwise enforce later, half-way through a start, with a worse message.

The rules (runtime-spec config.md and config-linux.md):

* ``ociVersion`` is a version this runtime implements (1.0.0 up to 1.2.x);
* ``root.path`` exists, is a directory, and a relative one stays inside the bundle;
* ``process.args`` is not empty, ``process.cwd`` is absolute;
* namespace types are known, none appears twice; a ``path`` names an existing file;
* a user namespace comes with uid and gid mappings, and mappings need a user namespace;
* a hostname needs a private UTS namespace, ``net.*`` sysctls a private network one, and
  only namespaced sysctls are allowed at all (others would change the host's kernel);
* mount destinations, masked and read-only paths are absolute; rlimits and capabilities
  are known names; ``soft <= hard``.
"""

from __future__ import annotations

import os
import re

from ..errors import UsageError
from ..security import caps as _caps
from .spec import Spec

#: the spec versions whose config.json this runtime reads (runc 1.1 writes 1.0.2-dev)
SUPPORTED = re.compile(r"^1\.(0|1|2)\.\d+(-[0-9A-Za-z.+-]+)?$")
OCI_VERSION = "1.0.2"
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")
RLIMITS = ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
           "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
           "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME")
#: sysctls that belong to a namespace (runc's validate.sysctl): IPC's, then the network's
IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced")
PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")


def _fail(message: str) -> UsageError:
    return UsageError(message, op="config.json")


def resolve_root(spec: Spec, bundle: str) -> str:
    """The absolute root directory: ``root.path``, relative to the bundle unless absolute."""
    if spec.root is None or not spec.root.path:
        raise _fail("root.path is required")
    path = spec.root.path
    if os.path.isabs(path):
        return os.path.normpath(path)
    full = os.path.normpath(os.path.join(bundle, path))
    if os.path.commonpath([full, os.path.normpath(bundle)]) != os.path.normpath(bundle):
        raise _fail(f"root.path {path!r} leaves the bundle directory")
    return full


def validate(spec: Spec, bundle: str | None = None, *, need_root: bool = True) -> None:
    """Raise UsageError (op ``config.json``) naming the first rule ``spec`` breaks."""
    if not SUPPORTED.match(spec.oci_version or ""):
        raise _fail(f"unsupported ociVersion {spec.oci_version!r}: minicontainer reads 1.0.0 to 1.2.x")
    if need_root:
        root = resolve_root(spec, bundle or ".")
        if not os.path.isdir(root):
            raise _fail(f"root.path {spec.root.path!r}: no such directory")
    proc = spec.process
    if proc is None:
        raise _fail("process is required")
    if not proc.args:
        raise _fail("process.args must not be empty")
    if not proc.cwd.startswith("/"):
        raise _fail(f"process.cwd {proc.cwd!r} must be an absolute path")
    for n, item in enumerate(proc.env):
        if "=" not in item or item.startswith("="):
            raise _fail(f"process.env[{n}] {item!r} is not KEY=VALUE")
    for n, rl in enumerate(proc.rlimits):
        if rl.type not in RLIMITS:
            raise _fail(f"process.rlimits[{n}]: unknown type {rl.type!r}")
        if rl.soft > rl.hard:
            raise _fail(f"process.rlimits[{n}]: soft limit {rl.soft} is above the hard limit {rl.hard}")
    if proc.capabilities is not None:
        for which in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            for name in getattr(proc.capabilities, which):
                if name not in _caps.NUMBERS:
                    raise _fail(f"process.capabilities.{which}: unknown capability {name!r}")
    if proc.oom_score_adj is not None and not -1000 <= proc.oom_score_adj <= 1000:
        raise _fail("process.oomScoreAdj must be between -1000 and 1000")
    for n, m in enumerate(spec.mounts):
        if not m.destination.startswith("/"):
            raise _fail(f"mounts[{n}].destination {m.destination!r} must be an absolute path")
    linux = spec.linux
    if linux is None:
        raise _fail("linux is required (this runtime runs Linux containers)")
    _namespaces(spec)
    for what, paths in (("maskedPaths", linux.masked_paths), ("readonlyPaths", linux.readonly_paths)):
        for p in paths:
            if not p.startswith("/"):
                raise _fail(f"linux.{what}: {p!r} must be an absolute path")
    if linux.rootfs_propagation and linux.rootfs_propagation not in PROPAGATION:
        raise _fail(f"linux.rootfsPropagation: unknown value {linux.rootfs_propagation!r}")
    for n, dev in enumerate(linux.devices):
        if dev.type not in ("c", "b", "u", "p") or not dev.path.startswith("/dev/"):
            raise _fail(f"linux.devices[{n}]: a device needs type c, b, u or p and a path under /dev")


def _namespaces(spec: Spec) -> None:
    linux = spec.linux
    seen: dict[str, str | None] = {}
    for ns in linux.namespaces:
        if ns.type not in NAMESPACE_TYPES:
            raise _fail(f"linux.namespaces: unknown namespace type {ns.type!r}")
        if ns.type in seen:
            raise _fail(f"linux.namespaces: {ns.type} appears twice")
        if ns.path is not None and not os.path.exists(ns.path):
            raise _fail(f"linux.namespaces: {ns.type} path {ns.path!r} does not exist")
        seen[ns.type] = ns.path
    private = {kind for kind, path in seen.items() if path is None}
    if "user" in seen:
        if "user" in private and (not linux.uid_mappings or not linux.gid_mappings):
            raise _fail("linux.namespaces: a new user namespace needs linux.uidMappings and linux.gidMappings")
    elif linux.uid_mappings or linux.gid_mappings:
        raise _fail("linux.uidMappings: id mappings need a user namespace")
    if "mount" not in private:
        raise _fail("linux.namespaces: a private mount namespace is required (the root is built in it)")
    if spec.hostname and "uts" not in private:
        raise _fail("hostname: setting a hostname needs a private uts namespace")
    for key in linux.sysctl:
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in private:
                raise _fail(f"linux.sysctl: {key} needs a private ipc namespace")
        elif key.startswith("net."):
            if "network" not in seen:
                raise _fail(f"linux.sysctl: {key} is not allowed in the host's network namespace")
        elif key in ("kernel.domainname", "kernel.hostname"):
            if "uts" not in private:
                raise _fail(f"linux.sysctl: {key} needs a private uts namespace")
        else:
            raise _fail(f"linux.sysctl: {key} is not namespaced (it would change the host's kernel)")

"""linux.resources.devices: which device nodes the container may open, read, write or mknod.

On cgroup v1 the ``devices`` controller keeps an allow-list per cgroup: writing ``a`` to
``devices.deny`` forbids everything, then each ``c 1:3 rwm`` written to ``devices.allow``
lets one node (or ``*`` for any number) back in (Documentation/admin-guide/cgroup-v1/devices.rst).
Rules are applied in order, as config-linux.md says. cgroup v2 has no such files: runc
attaches a BPF program instead, which minicontainer does not implement - such a config is
refused rather than run unprotected.

As runc does, the nodes every container gets (/dev/null, /dev/zero, the terminals...) and
mknod(2) of any node are allowed after the config's own rules (runc's ``AllowedDevices``):
a config that denies everything still leaves a container its /dev.
"""

from __future__ import annotations

import errno
from pathlib import Path

from ..cgroups import detect
from ..cgroups.detect import cgroup_dir, parse_proc_cgroup
from ..errors import KernelError, UsageError


#: runc's AllowedDevices: mknod of anything, then the default nodes, pty slaves, ptmx, /dev/net/tun
ALWAYS = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
          "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")


def _dir(store, name: str):
    layout = detect(store.cgroup_root, store.proc_root)
    hierarchy = layout.v1.get("devices") if layout.v1 else None
    if hierarchy is None:
        return None
    own = parse_proc_cgroup((store.proc_root / "self" / "cgroup").read_text())
    return cgroup_dir(hierarchy, own.get("devices", "/")) / name


def _line(rule) -> str:
    kind = rule.type or "a"
    if kind == "a":
        return "a"
    major = "*" if rule.major is None or rule.major < 0 else rule.major
    minor = "*" if rule.minor is None or rule.minor < 0 else rule.minor
    return f"{kind} {major}:{minor} {rule.access or 'rwm'}"


def apply(store, name: str, spec, sys) -> list[str]:
    """Create the container's devices cgroup and write its rules; the cgroup.procs file to join."""
    rules = spec.linux.resources.devices if spec.linux.resources else []
    if not rules:
        return []
    path = _dir(store, name)
    if path is None:
        raise UsageError("linux.resources.devices: this host has no cgroup v1 devices controller (cgroup v2 "
                         "needs a BPF program, not implemented)", op="config.json")
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for d in reversed(missing):
        sys.mkdir(str(d), 0o755, "a devices cgroup for the container")
    for rule in rules:
        sys.write_file(str(path / ("devices.allow" if rule.allow else "devices.deny")), _line(rule),
                       f"linux.resources.devices: {'allow' if rule.allow else 'deny'} {_line(rule)}")
    for line in ALWAYS:
        sys.write_file(str(path / "devices.allow"), line, f"a node every container gets: allow {line}")
    return [str(path / "cgroup.procs")]


def remove(store, name: str, sys, recorded: str | None = None) -> None:
    """rmdir the devices cgroup (at ``recorded``, where create put it, if known), then the parents
    that the other parts of ``name`` made, while they are empty, as the cgroup manager does for its
    hierarchies: containerd names a container ``/NAMESPACE/ID``, and the empty ``NAMESPACE`` stayed."""
    where = Path(recorded) if recorded else _dir(store, name)
    if where is None or not where.is_dir():
        return
    sys.rmdir(str(where), "the container's devices cgroup")
    parent = where.parent
    for _ in Path(name.strip("/")).parts[:-1]:
        try:
            sys.rmdir(str(parent), "remove the shared parent devices cgroup if it is now empty")
        except KernelError as err:   # still used by another container, or removed first: both fine
            if err.errno in (errno.EBUSY, errno.ENOTEMPTY, errno.ENOENT, errno.EEXIST):
                break
            raise
        parent = parent.parent

"""Rootless mode: containers started by an ordinary user (user_namespaces(7)).

Without root, the runtime can still build a container because every step happens
*inside a user namespace the user owns*: there the user's uid is root, with the
capabilities to create the other namespaces, mount an overlay (Linux >= 5.11), a tmpfs,
/proc and devpts. What it cannot do, and what this module says clearly instead of
failing half-way:

* **cgroups**: a cgroup belongs to the host's tree, and the user may only write where
  the host *delegated* a subtree to them (systemd's ``Delegate=yes``, cgroup v2). Without
  delegation there are no limits: asking for one is an error;
* **bridge networks**: creating a bridge or a veth pair in the host's network namespace
  needs the host's CAP_NET_ADMIN. A rootless container gets ``none`` (its own loopback)
  or ``host``. (Docker's rootless mode adds a user-space network stack, slirp4netns.)
* **device nodes**: mknod(2) is refused in a user namespace; the host's /dev/null,
  /dev/zero... are bind-mounted instead.

State lives under ``$XDG_DATA_HOME/minicontainer`` (see :func:`minicontainer.paths.state_root`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import paths
from ..errors import UsageError
from .userns import in_initial_namespace


def active(euid: int | None = None, proc_root: Path = paths.PROC_ROOT) -> bool:
    """Are we rootless: not root, or root only inside a user namespace (e.g. the reaper of a
    rootless container)?"""
    euid = os.geteuid() if euid is None else euid
    return euid != 0 or not in_initial_namespace(proc_root)


def default_network(euid: int | None = None) -> str:
    """``bridge`` for root, ``none`` for a rootless user (who cannot create bridges)."""
    return "none" if active(euid) else "bridge"


def cgroups_delegated(proc_root: Path = paths.PROC_ROOT, cgroup_root: Path = paths.CGROUP_ROOT) -> bool:
    """Can this user create cgroups? True when our cgroup v2 directory is writable by us."""
    try:
        text = (Path(proc_root) / "self" / "cgroup").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        hier, _, rel = line.partition("::")
        if hier == "0":
            for base in (Path(cgroup_root), Path(cgroup_root) / "unified"):
                here = base / rel.strip().lstrip("/")
                if (base / "cgroup.controllers").exists() and here.is_dir():
                    return os.access(here, os.W_OK)
    return False


def check(opts, is_rootless: bool, proc_root: Path = paths.PROC_ROOT,
          cgroup_root: Path = paths.CGROUP_ROOT) -> None:
    """Refuse, in one line, what a rootless container cannot have (before anything is created)."""
    if not is_rootless:
        if getattr(opts, "userns", "host") == "private":
            raise UsageError("--userns private is only available in rootless mode (run minicontainer as an "
                             "ordinary user); as root, containers share the host's user namespace", op="run")
        return
    uid = os.geteuid()
    limits = getattr(opts, "limits", None)
    if limits is not None and not limits.is_empty():
        why = ("cgroups are not delegated to uid %d" % uid if not cgroups_delegated(proc_root, cgroup_root)
               else "rootless cgroup limits are not supported by minicontainer")
        raise UsageError(f"rootless mode: resource limits need a cgroup, and {why}; run as root, or drop the "
                         "limit flags", op="run")
    if opts.network not in ("none", "host"):
        raise UsageError(f"rootless mode: --network {opts.network} needs root to create a bridge and veth "
                         "pair; use --network none or --network host", op="run")
    if opts.publish or getattr(opts, "publish_all", False):
        raise UsageError("rootless mode: publishing ports needs a bridge network; use --network host",
                         op="run")


class NoCgroup:
    """Stands in for a cgroup manager in rootless mode: no cgroup is created or joined."""

    def create(self) -> None: pass
    def apply(self, limits) -> None: pass
    def procs_files(self) -> list: return []
    def remove(self) -> None: pass
    def oom_killed(self) -> bool: return False
    def pids(self) -> list: return []
    def exists(self) -> bool: return False
    def kill_all(self) -> None: pass

    def _unsupported(self, *_args, **_kw):
        raise UsageError("rootless mode: this needs a cgroup (freezer, stats), and rootless containers "
                         "have none", op="cgroup")

    freeze = thaw = stats = add_process = _unsupported

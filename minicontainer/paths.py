"""Where things live. The only module that names default paths.

Everything else takes a root path as an argument (as psutil takes ``PROCFS_PATH``), so
tests point the code at fake trees under a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_ROOT = Path("/proc")
ETC_ROOT = Path("/etc")   # /etc/subuid, /etc/subgid (rootless user namespaces)
CGROUP_ROOT = Path("/sys/fs/cgroup")
SYSTEM_STATE_ROOT = Path("/var/lib/minicontainer")
SYSTEM_RUN_ROOT = Path("/run/minicontainer")   # host-wide, on a tmpfs: the bridges' address tables
RUNC_ROOT = Path("/run/minicontainer-runc")      # minicontainer-runc's containers (runc's is /run/runc)
HOST_BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


def state_root(cli_root: str | os.PathLike | None = None) -> Path:
    """The state root: ``--root`` wins, then ``$MINICONTAINER_ROOT``, then the default.

    Root uses /var/lib/minicontainer (as Docker uses /var/lib/docker); an ordinary user
    gets ``$XDG_DATA_HOME/minicontainer`` (rootless mode, as podman does).
    """
    if cli_root:
        return Path(cli_root).absolute()
    env = os.environ.get("MINICONTAINER_ROOT")
    if env:
        return Path(env).absolute()
    if os.geteuid() == 0:
        return SYSTEM_STATE_ROOT
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg) / "minicontainer"


def run_root() -> Path:
    """Host-wide runtime state shared by every state root (what belongs to a host-wide
    device, such as a bridge's address table): ``$MINICONTAINER_RUN_ROOT`` or /run/minicontainer."""
    env = os.environ.get("MINICONTAINER_RUN_ROOT")
    return Path(env).absolute() if env else SYSTEM_RUN_ROOT


def engine_socket() -> Path:
    """Where ``minicontainer engine`` listens by default: /run/minicontainer/engine.sock for root,
    ``$XDG_RUNTIME_DIR/minicontainer/engine.sock`` for an ordinary user (as rootless dockerd)."""
    if os.geteuid() == 0:
        return SYSTEM_RUN_ROOT / "engine.sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/minicontainer-{os.geteuid()}"
    return Path(xdg) / "minicontainer" / "engine.sock"


def runc_root() -> Path:
    """minicontainer-runc's state: ``--root``, else ``$MINICONTAINER_RUNC_ROOT``, else /run/minicontainer-runc
    (the variable reaches the runtime through engines that drop ``--root`` on some calls)."""
    env = os.environ.get("MINICONTAINER_RUNC_ROOT")
    return Path(env).absolute() if env else RUNC_ROOT


def project_build_dir() -> Path:
    """The build directory for caches (guest kernel, results): ``$MINICONTAINER_BUILD`` or <checkout>/build."""
    env = os.environ.get("MINICONTAINER_BUILD")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / "build"
    return Path(os.path.expanduser("~")) / ".cache" / "minicontainer"


def docker_config_dir() -> Path:
    """Where registry credentials live: ``$DOCKER_CONFIG`` or ``~/.docker``, Docker's own
    location, so ``docker login``, ``podman login`` and ``minicontainer login`` share them."""
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path(os.path.expanduser("~")) / ".docker"

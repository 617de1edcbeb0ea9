"""What podman leaves on the host that a test must take away again.

podman (cgroupfs manager) makes ``libpod_parent/conmon/...`` in every v1 hierarchy for its
conmon processes, and its default network makes the bridge ``cni-podman0``; neither goes
when the containers do. A test that runs podman wraps it in :func:`podman_leftovers_removed`,
which removes what appeared meanwhile (never what was there before: another user's podman).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from minicontainer import paths

PODMAN_BRIDGE = "cni-podman0"


def libpod_cgroups(cgroup_root: Path = paths.CGROUP_ROOT) -> set[Path]:
    """Every directory under a ``libpod_parent`` of any hierarchy, itself included."""
    found = set()
    for hierarchy in Path(cgroup_root).iterdir():
        parent = hierarchy / "libpod_parent"
        if parent.is_dir():
            found.update(Path(d) for d, _, _ in os.walk(parent))
    return found


@contextlib.contextmanager
def podman_leftovers_removed():
    from minicontainer.network.links import bridge_exists, delete_bridge
    cgroups, bridge = libpod_cgroups(), bridge_exists(PODMAN_BRIDGE)
    try:
        yield
    finally:
        for cg in sorted(libpod_cgroups() - cgroups, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):     # busy: a podman container still runs in it
                os.rmdir(cg)
        if not bridge and bridge_exists(PODMAN_BRIDGE):
            delete_bridge(PODMAN_BRIDGE)

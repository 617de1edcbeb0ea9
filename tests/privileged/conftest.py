import os
import shutil
import tempfile
from pathlib import Path

import pytest

from census import census, wait_for


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces, mounts and cgroups")


@pytest.fixture(scope="session")
def image_root():
    """A state root holding the busybox image, shared by the tests that only read it."""
    root = Path(tempfile.mkdtemp(prefix="mc-images-"))
    from minicontainer.images.store import ImageStore
    ImageStore(root).ensure_busybox()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def own_memory_cgroup() -> str:
    """Our memory cgroup (on this hybrid host /process_api/<hash>): containers started by this
    test session get their memory cgroup below it, other sessions' containers do not."""
    for line in open("/proc/self/cgroup").read().splitlines():
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            return path.rstrip("/") + "/minicontainer/"
    return "/minicontainer/"


@pytest.fixture
def state_root(image_root, tmp_path):
    """A fresh state root (with the busybox image copied in), and a leak check of *this session's*
    containers afterwards: mounts, container processes, monitors, cgroups, addresses, and host veths,
    user-network bridges or named network namespaces that appeared during the test may not remain (stopped containers may,
    as without --rm). Whatever the test left is then removed, so one
    failure does not spill over into the next test.

    Other work may run containers on the same host at the same time, so a cgroup counts as ours
    when its memory cgroup lies below our own memory cgroup (or it carries the id of one that does).
    """
    root = tmp_path / "state"
    shutil.copytree(image_root, root, symlinks=True)
    first = census(root)
    before = set(first["cgroups"])
    host_wide = {kind: set(first[kind]) for kind in ("veths", "bridges", "netns")}
    yield root
    from minicontainer.runtime import Runtime
    rt = Runtime(root)
    for c in rt.containers.list():
        rt.remove(c.id, force=True)
    # a reaper started by the last exit may still be finishing: it ends by itself within moments
    wait_for(lambda: not census(root)["monitors"] and not census(root)["processes"], 10.0)
    # a veth goes when its container's network namespace is freed, moments after the last process
    wait_for(lambda: all(set(census(root)[k]) <= host_wide[k] for k in host_wide), 10.0)
    left = census(root)
    for kind, had in host_wide.items():
        left[kind] = sorted(set(left[kind]) - had)       # host-wide: only what appeared during the test
    mine = own_memory_cgroup()
    new = set(left["cgroups"]) - before
    ids = {os.path.basename(p) for p in new if mine in p}
    left["cgroups"] = sorted(p for p in new if os.path.basename(p) in ids)
    for bridge in left["bridges"]:                       # so that one failure does not spill over
        from minicontainer import paths
        from minicontainer.network import links
        links.delete_bridge(bridge)
        (paths.run_root() / "ipam" / f"{bridge}.json").unlink(missing_ok=True)
    for kind in ("mounts", "processes", "cgroups", "monitors", "addresses", "veths", "bridges", "netns"):
        assert not left[kind], f"{kind} left behind: {left[kind]}"

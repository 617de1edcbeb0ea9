import os
import shutil
import tempfile
from pathlib import Path

import pytest

from census import census


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


@pytest.fixture
def state_root(image_root, tmp_path):
    """A fresh state root (with the busybox image copied in) and a leak check afterwards.

    Stopped containers may stay (as without --rm); mounts, cgroups and processes may not.
    Whatever the test left is removed in any case, so one failure does not spill over.
    """
    root = tmp_path / "state"
    shutil.copytree(image_root, root, symlinks=True)
    cgroups_before = set(census(root)["cgroups"])
    yield root
    left = census(root)
    left["cgroups"] = sorted(set(left["cgroups"]) - cgroups_before)  # others' containers may be running
    from minicontainer.runtime import Runtime
    rt = Runtime(root)
    for c in rt.containers.list():
        rt.remove(c.id, force=True)
    for kind in ("mounts", "processes", "cgroups"):
        assert not left[kind], f"{kind} left behind: {left[kind]}"


@pytest.fixture(scope="session", autouse=True)
def _default_bridge_cleanup():
    """The default bridge (mc0) stays between containers, as docker0 does; but a test session
    that created it removes it again, so the host is left as it was found."""
    from minicontainer.network import DEFAULT_BRIDGE
    from minicontainer.network.links import bridge_exists, delete_bridge
    existed = bridge_exists(DEFAULT_BRIDGE)
    yield
    if not existed and bridge_exists(DEFAULT_BRIDGE):
        delete_bridge(DEFAULT_BRIDGE)

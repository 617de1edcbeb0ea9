import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from registry_fixtures import docker_config, lab_registry, lab_registry_auth  # noqa: E402,F401  (fixtures)


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: real namespaces, mounts and cgroups")


@pytest.fixture
def cli():
    """The path of the installed ``minicontainer`` console script (beside this interpreter)."""
    path = Path(sys.executable).parent / "minicontainer"
    if not path.exists():
        found = shutil.which("minicontainer")
        if not found:
            pytest.skip("minicontainer console script is not installed")
        path = Path(found)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def _default_bridge_cleanup():
    """The default bridge (mc0) stays between containers, as docker0 does; but a test session
    that created it removes it again, and its outbound NAT rules, so the host is left as it was found.
    Here, not in tests/privileged/: the VM tests' container series use the default bridge too."""
    if os.geteuid() != 0:            # only root tests make bridges
        yield
        return
    import tempfile
    from minicontainer.network import DEFAULT_BRIDGE, NetworkStore
    from minicontainer.network.links import bridge_exists, delete_bridge
    from minicontainer.network.nat import Nat
    existed = bridge_exists(DEFAULT_BRIDGE)
    yield
    if not existed and bridge_exists(DEFAULT_BRIDGE):
        delete_bridge(DEFAULT_BRIDGE)
        Nat(NetworkStore(tempfile.gettempdir())).forget(DEFAULT_BRIDGE)

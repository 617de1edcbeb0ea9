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

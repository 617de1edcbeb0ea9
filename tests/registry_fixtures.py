"""Fixtures for tests that need a real registry: Debian's docker-registry on a free
127.0.0.1 port, its config and storage in the test's temporary directory, stopped after
the test (even a failing one). ``lab_registry_auth`` adds an htpasswd file with one user.

Registered in tests/conftest.py, so unit, privileged and engine tests can all use them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field

import pytest


@dataclass
class RunningRegistry:
    address: str                 # 127.0.0.1:PORT
    server: object               # minicontainer.registry.server.LabRegistry
    users: dict = field(default_factory=dict)

    def settings(self, config_dir, *, as_default: bool = True):
        from minicontainer.registry.settings import Settings
        return Settings(default=self.address if as_default else "docker.io", config_dir=config_dir)


def _start(tmp_path, users=None):
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (scripts/install-system-deps.sh installs it)")
    from minicontainer.registry.server import LabRegistry, free_port
    server = LabRegistry(tmp_path / "registry")
    address = server.start(free_port(), users=users)
    return RunningRegistry(address, server, dict(users or {}))


@pytest.fixture
def lab_registry(tmp_path):
    """A running registry without authentication."""
    reg = _start(tmp_path)
    try:
        yield reg
    finally:
        reg.server.stop()
        assert reg.server.pid() is None


@pytest.fixture
def lab_registry_auth(tmp_path):
    """A running registry that wants Basic credentials: user ``alice``, a random password."""
    reg = _start(tmp_path, {"alice": secrets.token_urlsafe(12)})
    try:
        yield reg
    finally:
        reg.server.stop()


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A private $DOCKER_CONFIG, so no test reads or writes the real ~/.docker."""
    path = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    monkeypatch.delenv("MINICONTAINER_REGISTRY", raising=False)
    os.makedirs(path, exist_ok=True)
    return path

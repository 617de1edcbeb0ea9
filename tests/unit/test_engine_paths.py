"""Where `minicontainer engine` listens by default: dockerd's places (root: /run/..., a rootless
user: $XDG_RUNTIME_DIR/...), and the -H spellings the engine and its client share."""

import os

import pytest

from minicontainer import hostaddr, paths
from minicontainer.errors import UsageError


def test_root_listens_in_the_system_run_directory(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert paths.engine_socket() == paths.SYSTEM_RUN_ROOT / "engine.sock"


def test_a_rootless_user_listens_in_xdg_runtime_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert paths.engine_socket() == tmp_path / "minicontainer" / "engine.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert str(paths.engine_socket()).startswith("/tmp/minicontainer-1000/")


def test_host_spellings(tmp_path):
    sock = tmp_path / "e.sock"
    assert hostaddr.unix_socket(f"unix://{sock}", "engine") == str(sock)
    assert hostaddr.unix_socket(str(sock), "engine") == str(sock)           # a bare absolute path
    for bad in ("tcp://127.0.0.1:2375", "unix://", "unix://relative.sock", "ssh://host", "fd://"):
        with pytest.raises(UsageError, match="unix socket|must be absolute"):
            hostaddr.unix_socket(bad, "engine")

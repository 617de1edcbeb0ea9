"""Fixtures shared by the unit tests: a fake v2-only host, and a state root holding busybox."""

import pytest


@pytest.fixture(autouse=True)
def private_run_root(tmp_path, monkeypatch):
    """Unit tests never touch the host-wide /run/minicontainer (bridges' address tables)."""
    monkeypatch.setenv("MINICONTAINER_RUN_ROOT", str(tmp_path / "run"))


@pytest.fixture
def fake_host(tmp_path):
    """A v2-only host under tmp_path: a proc tree (mountinfo naming one cgroup2 mount, cap_last_cap)
    and that cgroup2 root; returns (proc_root, cgroup_root)."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "cap_last_cap").write_text("40\n")
    cg = tmp_path / "cgroup"
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (cg / "cgroup.subtree_control").write_text("")
    (proc / "self" / "mountinfo").write_text(
        f"30 23 0:26 / {cg} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n")
    (proc / "self" / "cgroup").write_text("0::/\n")
    return proc, cg


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    """A state root holding the busybox image (built from the host's busybox-static, no root needed)."""
    root = tmp_path_factory.mktemp("images")
    from minicontainer.images.store import ImageStore
    ImageStore(root).ensure_busybox()
    return root

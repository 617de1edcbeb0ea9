"""Fixtures shared by the unit tests: a fake v2-only host, a fake systemd hybrid host (co-mounted
cpu,cpuacct), a state root holding busybox, and the debug log channel into a buffer."""

import io
import logging

import pytest

from minicontainer import log


@pytest.fixture(autouse=True)
def private_run_root(tmp_path, monkeypatch):
    """Unit tests never touch the host-wide /run/minicontainer (bridges' address tables), nor
    the host's packet filter: no NAT backend (tests of the NAT code pass a recording runner)."""
    monkeypatch.setenv("MINICONTAINER_RUN_ROOT", str(tmp_path / "run"))
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")


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


@pytest.fixture
def fake_systemd_hybrid_host(tmp_path):
    """A host laid out as systemd does on a hybrid machine (not this one): a tmpfs at the cgroup
    root, one v1 hierarchy per controller except cpu and cpuacct, which are *one* co-mounted
    hierarchy ``cpu,cpuacct`` with the symlinks ``cpu`` and ``cpuacct`` pointing at it, and an
    empty cgroup2 at ``unified``. The caller sits in ``/user.slice`` in cpu,cpuacct and memory.
    Returns (proc_root, cgroup_root)."""
    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "cap_last_cap").write_text("40\n")
    mounts = [("cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"), ("cpuset", "cgroup", "rw,cpuset"),
              ("memory", "cgroup", "rw,memory"), ("pids", "cgroup", "rw,pids"), ("freezer", "cgroup", "rw,freezer"),
              ("systemd", "cgroup", "rw,xattr,name=systemd"), ("unified", "cgroup2", "rw,nsdelegate")]
    lines = []
    for i, (name, fstype, opts) in enumerate(mounts):
        (cg / name).mkdir(parents=True)
        (cg / name / "cgroup.procs").write_text("1\n")
        lines.append(f"{30 + i} 25 0:{30 + i} / {cg / name} rw,nosuid,nodev,noexec,relatime shared:{i} - "
                     f"{fstype} cgroup {opts}\n")
    (cg / "unified" / "cgroup.controllers").write_text("")
    (cg / "cpu").symlink_to("cpu,cpuacct")
    (cg / "cpuacct").symlink_to("cpu,cpuacct")
    for name in ("cpu,cpuacct", "memory"):
        (cg / name / "user.slice").mkdir()
    (cg / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (cg / "cpuset" / "cpuset.mems").write_text("0\n")
    (proc / "self" / "mountinfo").write_text("".join(lines))
    (proc / "self" / "cgroup").write_text("7:name=systemd:/user.slice/session-1.scope\n6:freezer:/\n5:pids:/\n"
                                          "4:memory:/user.slice\n3:cpuset:/\n2:cpu,cpuacct:/user.slice\n"
                                          "0::/user.slice/session-1.scope\n")
    return proc, cg


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    """A state root holding the busybox image (built from the host's busybox-static, no root needed)."""
    root = tmp_path_factory.mktemp("images")
    from minicontainer.images.store import ImageStore
    ImageStore(root).ensure_busybox()
    return root


# ----------------------------------------------------------------------------- the debug log
def _unconfigure():
    logger = logging.getLogger(log.ROOT)
    logger.removeHandler(log._handler)
    log._handler = None
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


@pytest.fixture
def unconfigured(monkeypatch):
    """No level from the environment; whatever a test configures is undone afterwards."""
    monkeypatch.delenv(log.ENV, raising=False)
    yield
    _unconfigure()


@pytest.fixture
def debug_stream(unconfigured):
    """--log-level debug into a buffer."""
    buf = io.StringIO()
    log.configure("debug", stream=buf)
    return buf

"""Rootless mode, as a real ordinary user created by the test (and removed afterwards).

The user runs the installed ``minicontainer`` with their own $XDG_DATA_HOME; the runtime
finds it is not root and gives the container a user namespace in which the user's uid is 0.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from minicontainer.security import caps


@pytest.fixture
def user(tmp_path):
    """A fresh user with a home directory; removed, with anything it still runs, in any case."""
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd (package passwd)")
    name = f"mcrl{uuid.uuid4().hex[:8]}"
    res = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    try:
        pw = pwd.getpwnam(name)
        yield pw
    finally:
        uid = pwd.getpwnam(name).pw_uid
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid:
                        os.kill(int(entry), signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    pass
        subprocess.run(["userdel", "--remove", name], capture_output=True)


def as_user(pw, cli, *args, timeout=60):
    home = pw.pw_dir
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": f"{home}/.local/share", "USER": pw.pw_name}
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=timeout, cwd=home, env=env,
                          user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])


def test_rootless_run_is_root_inside_and_the_user_outside(user, cli):
    res = as_user(user, cli, "run", "--rm", "busybox", "sh", "-c",
                  "id -u; cat /proc/self/uid_map; grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status; "
                  "echo hello > /tmp/f && cat /tmp/f")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(user.pw_uid), "1"]           # root inside = the user outside
    assert caps.read_status(res.stdout)["CapEff"] == caps.mask(caps.DEFAULT)
    assert "NoNewPrivs:\t1" in lines and "Seccomp:\t2" in lines
    assert lines[-1] == "hello"
    state = os.path.join(user.pw_dir, ".local", "share", "minicontainer")
    assert os.path.isdir(os.path.join(state, "images"))               # state under $XDG_DATA_HOME
    assert os.stat(state).st_uid == user.pw_uid


@pytest.fixture
def root_owned_dir():
    """A root-owned, world-readable directory the test user can reach (pytest's tmp_path is 0700)."""
    data = Path(tempfile.mkdtemp(prefix="mc-rootowned-"))
    try:
        os.chmod(data, 0o755)
        (data / "f").write_text("host\n")
        yield data
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_rootless_root_cannot_write_a_host_root_owned_bind_mount(user, cli, root_owned_dir):
    data = root_owned_dir
    res = as_user(user, cli, "run", "--rm", "-v", f"{data}:/data", "busybox", "sh", "-c",
                  "stat -c '%u' /data/f; echo x >> /data/f || echo denied; touch /data/new || echo denied")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["65534", "denied", "denied"]        # host root is unmapped: "nobody"
    assert (data / "f").read_text() == "host\n" and not (data / "new").exists()


@pytest.mark.parametrize("args, message", [
    (["--memory", "64m"], "rootless mode: resource limits need a cgroup, and cgroups are not delegated"),
    (["--network", "bridge"], "rootless mode: --network bridge needs root"),
])
def test_rootless_refusals_are_one_clear_line(user, cli, args, message):
    res = as_user(user, cli, "run", "--rm", *args, "busybox", "true")
    assert res.returncode == 125
    assert len(res.stderr.strip().splitlines()) == 1 and message in res.stderr
    containers = os.path.join(user.pw_dir, ".local", "share", "minicontainer", "containers")
    assert not os.path.isdir(containers) or [p for p in os.listdir(containers) if p != ".lock"] == []


def test_rootless_detached_exec_and_remove(user, cli):
    start = as_user(user, cli, "run", "-d", "--name", "bg", "busybox", "sleep", "30")
    assert start.returncode == 0, start.stderr
    try:
        res = as_user(user, cli, "exec", "bg", "sh", "-c", "id -u; grep CapEff /proc/self/status")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split()[0] == "0"
        assert caps.read_status(res.stdout)["CapEff"] == caps.mask(caps.DEFAULT)
    finally:
        rm = as_user(user, cli, "rm", "-f", "bg")
    assert rm.returncode == 0, rm.stderr


def test_rootless_user_switch_needs_subordinate_ids(user, cli):
    res = as_user(user, cli, "run", "--rm", "-u", "nobody", "busybox", "true")
    assert res.returncode == 126
    assert "only root (0) is mapped" in res.stderr

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


def _subordinate_lines(path: str, name: str) -> list[str]:
    try:
        with open(path) as f:
            return [line for line in f.read().splitlines() if line.split(":")[0] == name]
    except FileNotFoundError:
        return []


def _make_user(subids: bool):
    """A fresh user with a home directory, with or without /etc/subuid and /etc/subgid ranges
    (useradd gives new users a range when those files exist; we add or remove one so that
    each test knows which kind of user it has). Removed, with anything it still runs, after."""
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd (package passwd)")
    name = f"mcrl{uuid.uuid4().hex[:8]}"
    res = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    try:
        pw = pwd.getpwnam(name)
        for path, flag in (("/etc/subuid", "subuids"), ("/etc/subgid", "subgids")):
            lines = _subordinate_lines(path, name)
            if subids and not lines:
                start = 100000 + pw.pw_uid * 65536
                res = subprocess.run(["usermod", f"--add-{flag}", f"{start}-{start + 65535}", name],
                                     capture_output=True, text=True)
                assert res.returncode == 0, res.stderr
            for line in lines if not subids else []:
                _, first, count = line.split(":")
                res = subprocess.run(["usermod", f"--del-{flag}", f"{first}-{int(first) + int(count) - 1}", name],
                                     capture_output=True, text=True)
                assert res.returncode == 0, res.stderr
            assert bool(_subordinate_lines(path, name)) == subids
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


@pytest.fixture
def user():
    """An ordinary user who owns no subordinate ids: a single-uid map, written by the runtime."""
    yield from _make_user(subids=False)


@pytest.fixture
def user_with_subids():
    """An ordinary user with a /etc/subuid and /etc/subgid range: newuidmap/newgidmap map it too."""
    for helper in ("newuidmap", "newgidmap"):
        if shutil.which(helper) is None:
            pytest.skip(f"needs {helper} (package uidmap; scripts/install-system-deps.sh installs it)")
    yield from _make_user(subids=True)


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


def _range(path: str, name: str) -> tuple[int, int]:
    _, first, count = _subordinate_lines(path, name)[0].split(":")
    return int(first), int(count)


def test_rootless_with_subordinate_ids_maps_the_range_through_the_helpers(user_with_subids, cli):
    pw = user_with_subids
    ustart, ucount = _range("/etc/subuid", pw.pw_name)
    gstart, gcount = _range("/etc/subgid", pw.pw_name)
    res = as_user(pw, cli, "run", "--name", "wide", "busybox", "sh", "-c",
                  "cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/f && chown 1000:1000 /tmp/f && echo chowned")
    try:
        assert res.returncode == 0, res.stderr
        maps = [line.split() for line in res.stdout.splitlines()[:4]]
        assert maps == [["0", str(pw.pw_uid), "1"], ["1", str(ustart), str(ucount)],
                        ["0", str(pw.pw_gid), "1"], ["1", str(gstart), str(gcount)]]
        assert res.stdout.splitlines()[-1] == "chowned"      # uid 1000 exists inside: the range is mapped
        state = Path(pw.pw_dir) / ".local" / "share" / "minicontainer" / "containers"
        made = [p for p in state.glob("*/upper/tmp/f")]
        assert len(made) == 1
        st = made[0].stat()                                  # on the host: inside 1000 -> start + 999
        assert (st.st_uid, st.st_gid) == (ustart + 999, gstart + 999)
    finally:
        rm = as_user(pw, cli, "rm", "-f", "wide")
    assert rm.returncode == 0, rm.stderr
    switched = as_user(pw, cli, "run", "--rm", "-u", "nobody", "busybox", "id")
    assert switched.returncode == 0, switched.stderr
    assert switched.stdout.startswith("uid=65534(nobody) gid=65534(")

"""Capabilities, no_new_privs, seccomp profiles, --read-only and -u in real containers.

The capability sets are read where the kernel publishes them, /proc/self/status inside the
container, and compared with the masks the flags should produce.
"""

import json
import subprocess

import pytest

from census import container_dirs
from minicontainer.security import caps

DEFAULT_MASK = caps.mask(caps.DEFAULT)   # 0xa80425fb


def run(cli, root, *args, timeout=60):
    return subprocess.run([cli, "--root", str(root), "run", "--rm", "--network", "none", *args],
                          capture_output=True, text=True, timeout=timeout)


def status(cli, root, *flags):
    res = run(cli, root, *flags, "busybox", "cat", "/proc/self/status")
    assert res.returncode == 0, res.stderr
    fields = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    return {k: v.strip() for k, v in fields.items()}


def host_bounding():
    return caps.read_status(open("/proc/self/status").read())["CapBnd"]


def test_default_capabilities_are_dockers_14(cli, state_root):
    st = status(cli, state_root)
    sets = caps.read_status("\n".join(f"{k}:{v}" for k, v in st.items()))
    assert sets == {"CapInh": DEFAULT_MASK, "CapPrm": DEFAULT_MASK, "CapEff": DEFAULT_MASK,
                    "CapBnd": DEFAULT_MASK, "CapAmb": 0}
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"          # SECCOMP_MODE_FILTER


@pytest.mark.parametrize("flags, expected", [
    (["--cap-drop", "NET_RAW", "--cap-drop", "chown"], DEFAULT_MASK & ~(1 << 13) & ~(1 << 0)),
    (["--cap-add", "SYS_ADMIN"], DEFAULT_MASK | 1 << 21),
    (["--cap-drop", "ALL"], 0),
    (["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"], 1 << 10),
])
def test_cap_add_and_drop(cli, state_root, flags, expected):
    st = status(cli, state_root, *flags)
    assert int(st["CapEff"], 16) == expected
    assert int(st["CapBnd"], 16) == expected


def test_privileged_keeps_everything_we_have_and_no_filter(cli, state_root):
    st = status(cli, state_root, "--privileged")
    assert int(st["CapEff"], 16) == host_bounding()
    assert st["Seccomp"] == "0"
    res = run(cli, state_root, "--privileged", "busybox", "sh", "-c", "grep -c ' /proc/sys ' /proc/self/mountinfo")
    assert res.stdout.strip() == "0"    # no read-only /proc/sys bind either


def test_no_new_privileges_can_be_lifted(cli, state_root):
    assert status(cli, state_root, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"
    assert status(cli, state_root, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"


def test_user_switch_clears_effective_capabilities(cli, state_root):
    res = run(cli, state_root, "-u", "nobody", "busybox", "sh", "-c", "id -u; id -g; echo $HOME; "
              "grep -E 'Cap(Eff|Prm|Bnd)' /proc/self/status")
    lines = res.stdout.split()
    assert lines[:2] == ["65534", "65534"]
    sets = caps.read_status(res.stdout)
    assert sets["CapEff"] == 0 and sets["CapPrm"] == 0 and sets["CapBnd"] == DEFAULT_MASK
    num = run(cli, state_root, "-u", "1234:99", "busybox", "sh", "-c", "id -u; id -g")
    assert num.stdout.split() == ["1234", "99"]
    bad = run(cli, state_root, "-u", "nosuchuser", "busybox", "true")
    assert bad.returncode != 0 and "unable to find user nosuchuser" in bad.stderr


def test_custom_profile_denies_with_its_errno(cli, state_root, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    res = run(cli, state_root, "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
              "mkdir /tmp/x || echo denied; touch /tmp/y && echo touched")
    assert res.stdout.split() == ["denied", "touched"]
    assert "Permission denied" in res.stderr          # EACCES (13), the profile's errnoRet


def test_bad_profile_is_one_line_and_leaves_nothing(cli, state_root, tmp_path):
    profile = tmp_path / "bad.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "mount"}]}')
    res = run(cli, state_root, "--security-opt", f"seccomp={profile}", "busybox", "true")
    assert res.returncode == 125
    assert res.stderr.strip().splitlines() == [
        f"minicontainer: seccomp profile: {profile}: syscalls[0]: names must be a non-empty list of system call names"]
    assert container_dirs(state_root) == []


def test_read_only_root_with_writable_tmp_and_run(cli, state_root):
    res = run(cli, state_root, "--read-only", "busybox", "sh", "-c",
              "touch /etc/x 2>/dev/null || echo etc-ro; touch /tmp/x /run/y && echo tmp-run-ok")
    assert res.stdout.split() == ["etc-ro", "tmp-run-ok"]


def test_exec_gets_the_same_confinement(cli, state_root):
    root = ["--root", str(state_root)]
    start = subprocess.run([cli, *root, "run", "-d", "--network", "none", "--name", "sec", "--cap-drop", "CHOWN",
                            "busybox", "sleep", "30"], capture_output=True, text=True, timeout=60)
    assert start.returncode == 0, start.stderr
    try:
        res = subprocess.run([cli, *root, "exec", "sec", "grep", "-E", "Cap(Eff|Bnd)|NoNewPrivs|Seccomp:",
                              "/proc/self/status"], capture_output=True, text=True, timeout=60)
        sets = caps.read_status(res.stdout)
        assert sets["CapEff"] == DEFAULT_MASK & ~1 and sets["CapBnd"] == DEFAULT_MASK & ~1
        assert "NoNewPrivs:\t1" in res.stdout and "Seccomp:\t2" in res.stdout
    finally:
        subprocess.run([cli, *root, "rm", "-f", "sec"], capture_output=True, timeout=60)


def test_exec_takes_the_containers_user_and_workdir_from_config_json(cli, state_root):
    """exec inherits process.user and process.cwd of the container's config.json (as docker exec and
    runc exec do), unless -u / -w say otherwise."""
    root = ["--root", str(state_root)]
    start = subprocess.run([cli, *root, "run", "-d", "--network", "none", "--name", "who", "-u", "nobody",
                            "-w", "/tmp", "busybox", "sleep", "30"], capture_output=True, text=True, timeout=60)
    assert start.returncode == 0, start.stderr
    try:
        def exe(*args):
            res = subprocess.run([cli, *root, "exec", *args], capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stderr
            return res.stdout.split()
        assert exe("who", "sh", "-c", "id -u; id -g; pwd") == ["65534", "65534", "/tmp"]
        assert exe("-u", "root", "-w", "/etc", "who", "sh", "-c", "id -u; pwd") == ["0", "/etc"]
    finally:
        subprocess.run([cli, *root, "rm", "-f", "who"], capture_output=True, timeout=60)

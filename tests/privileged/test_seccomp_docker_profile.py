"""Docker's own default seccomp profile (moby's profiles/seccomp/default.json, a copy beside the
checkout at ../shared/reference/) given with --security-opt seccomp=FILE behaves as in Docker:
busybox starts (its static start-up needs arch_prctl, which only a rule with Docker's
architecture name "amd64" allows), mount/unshare/keyctl fail with EPERM, and --cap-add SYS_ADMIN
gives mount and unshare back, as the profile ties them to CAP_SYS_ADMIN. System calls busybox
cannot make are made by the escape suite's mcprobe."""

from pathlib import Path

from test_escapes import probe, probe_dir, run  # noqa: F401  (probe_dir is a fixture)

DOCKER_DEFAULT = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "docker-default-seccomp.json"


def docker_profile():
    assert DOCKER_DEFAULT.is_file(), f"missing {DOCKER_DEFAULT} (a copy of moby's default profile)"
    return f"seccomp={DOCKER_DEFAULT.resolve()}"


def test_busybox_runs_under_dockers_default_profile(cli, state_root):
    res = run(cli, state_root, "--security-opt", docker_profile(), "busybox", "sh", "-c",
              "echo hi; grep Seccomp: /proc/self/status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["hi", "Seccomp:", "2"]


def test_mount_unshare_keyctl_are_refused(cli, state_root, probe_dir):  # noqa: F811
    got = probe(cli, state_root, probe_dir, "mount", "unshare", "keyctl", "mknod_fifo", "i386_getpid",
                "i386_mount", "x32_mount", flags=["--security-opt", docker_profile()])
    assert got == {"mount": "EPERM", "unshare": "EPERM", "keyctl": "EPERM", "mknod_fifo": "ok", "i386_getpid": "ok",
                   "i386_mount": "EPERM", "x32_mount": "EPERM"}    # Docker's profile covers i386 and x32 too


def test_cap_sys_admin_gives_mount_and_unshare_back(cli, state_root, probe_dir):  # noqa: F811
    got = probe(cli, state_root, probe_dir, "mount", "unshare", "keyctl",
                flags=["--cap-add", "SYS_ADMIN", "--security-opt", docker_profile()])
    assert got == {"mount": "ok", "unshare": "ok", "keyctl": "EPERM"}


def test_busybox_mount_with_and_without_cap_sys_admin(cli, state_root):
    script = "mount -t tmpfs none /tmp && grep ' /tmp ' /proc/self/mountinfo | grep -c ' - tmpfs none '; echo rc=$?"
    denied = run(cli, state_root, "--security-opt", docker_profile(), "busybox", "sh", "-c", script)
    assert denied.stdout.split() == ["rc=1"], denied.stdout + denied.stderr
    assert "mount: permission denied" in denied.stderr
    allowed = run(cli, state_root, "--cap-add", "SYS_ADMIN", "--security-opt", docker_profile(), "busybox", "sh",
                  "-c", script)
    assert allowed.stdout.split() == ["1", "rc=0"], allowed.stdout + allowed.stderr

"""`minicontainer run` for real: namespaces, rootfs, exit codes, signals, terminals, cleanup."""

import os
import signal
import subprocess

import pytest

from census import census, container_dirs


def mc(cli, root, *args, input=None, timeout=60):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True,
                          input=input, timeout=timeout)


def run(cli, root, *args, **kw):
    return mc(cli, root, "run", "--rm", *args, **kw)


def test_every_namespace_differs_from_the_host(cli, state_root):
    kinds = ["mnt", "uts", "ipc", "net", "pid", "cgroup"]
    res = run(cli, state_root, "busybox", "sh", "-c", " ; ".join(f"readlink /proc/self/ns/{k}" for k in kinds))
    assert res.returncode == 0, res.stderr
    inside = res.stdout.split()
    outside = [os.readlink(f"/proc/self/ns/{k}") for k in kinds]
    assert len(inside) == len(kinds)
    for k, i, o in zip(kinds, inside, outside):
        assert i.startswith(k + ":[") and i != o, (k, i, o)


def test_hostname_is_private(cli, state_root):
    before = os.uname().nodename
    res = run(cli, state_root, "--hostname", "box", "busybox", "hostname")
    assert res.stdout.strip() == "box"
    assert os.uname().nodename == before


def test_default_hostname_is_short_id(cli, state_root):
    res = mc(cli, state_root, "run", "--name", "h", "busybox", "hostname")
    ps = mc(cli, state_root, "ps", "-a", "-q")
    assert res.stdout.strip() == ps.stdout.strip()


def test_command_is_pid_1_and_sees_only_its_processes(cli, state_root):
    res = run(cli, state_root, "busybox", "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, count = res.stdout.split()
    assert pid == "1"
    assert int(count) <= 3  # sh, ls, grep


def test_root_is_the_overlay_and_host_never_sees_the_mount(cli, state_root):
    proc = subprocess.Popen([cli, "--root", str(state_root), "run", "--rm", "--init", "busybox", "sh", "-c",
                             "grep ' / / ' /proc/self/mountinfo; echo ready; sleep 30"],
                            stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert " - overlay overlay " in first, first
        assert proc.stdout.readline().strip() == "ready"
        host = open("/proc/self/mountinfo").read()
        assert str(state_root) not in host
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 143


def test_old_root_is_gone(cli, state_root):
    res = run(cli, state_root, "busybox", "cat", "/proc/self/mountinfo")
    targets = [line.split()[4] for line in res.stdout.splitlines() if line and line[0].isdigit()]
    assert targets[0] == "/"
    from minicontainer.security.defaults import MASKED_PATHS, READONLY_PATHS  # security's mounts over /proc, /sys
    assert set(targets) <= {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/etc/hosts", "/etc/hostname",
                            "/etc/resolv.conf", *MASKED_PATHS, *READONLY_PATHS}


def test_proc_and_sys_are_read_only_and_dev_is_minimal(cli, state_root):
    res = run(cli, state_root, "busybox", "sh", "-c",
              "touch /sys/x 2>/dev/null || echo sys-ro; echo 1 > /proc/sys/kernel/hostname 2>/dev/null || echo proc-ro;"
              " ls /dev")
    lines = res.stdout.split()
    assert "sys-ro" in lines and "proc-ro" in lines
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin",
                 "stdout", "stderr"):
        assert name in lines
    assert "vda" not in lines and "kvm" not in lines


def test_network_is_loopback_only_and_up(cli, state_root):
    res = run(cli, state_root, "--network", "none", "busybox", "sh", "-c",
              "cat /proc/net/dev; cat /sys/class/net/lo/flags")
    devices = [line.split(":")[0].strip() for line in res.stdout.splitlines() if ":" in line]
    assert devices == ["lo"]
    assert int(res.stdout.split()[-1], 16) & 1  # IFF_UP


def test_env_and_workdir(cli, state_root):
    res = run(cli, state_root, "-e", "FOO=bar", "-e", "EMPTY=", "-w", "/work/dir", "busybox", "sh", "-c",
              'echo "$FOO|$EMPTY|$HOSTNAME|$HOME"; pwd')
    first, second = res.stdout.splitlines()
    assert first.startswith("bar||") and first.endswith("|/root")
    assert second == "/work/dir"


@pytest.mark.parametrize("args, code, message", [
    (["busybox", "sh", "-c", "exit 7"], 7, None),
    (["busybox", "nosuchcommand"], 127, 'exec: "nosuchcommand": executable file not found in $PATH'),
    (["busybox", "/no/such/file"], 127, "no such file or directory"),
    (["busybox", "/etc/passwd"], 126, "permission denied"),
    (["--init", "busybox", "sh", "-c", "kill -USR1 $$"], 138, None),
    (["nosuchimage"], 125, "no such image"),
    (["-e", "=oops", "busybox", "true"], 125, "invalid environment variable"),
    (["-w", "/etc/passwd/sub", "busybox", "true"], 125, "not a directory"),  # fails inside, after the start
])
def test_exit_codes_follow_docker(cli, state_root, args, code, message):
    res = run(cli, state_root, *args)
    assert res.returncode == code, res.stderr
    if message:
        assert message in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert container_dirs(state_root) == []


def test_sigterm_is_forwarded(cli, state_root):
    proc = subprocess.Popen([cli, "--root", str(state_root), "run", "--rm", "busybox", "sh", "-c",
                             "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigint_reaches_init_and_command(cli, state_root):
    proc = subprocess.Popen([cli, "--root", str(state_root), "run", "--rm", "--init", "busybox", "sh", "-c",
                             "echo ready; sleep 30"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tty_gives_a_terminal_from_the_containers_devpts(cli, state_root):
    res = run(cli, state_root, "-t", "busybox", "sh", "-c", "tty; test -t 0 && test -t 1 && echo both")
    out = res.stdout.replace("\r", "").split()
    assert out == ["/dev/pts/0", "both"], res.stdout


def test_interactive_passes_stdin(cli, state_root):
    res = run(cli, state_root, "-i", "busybox", "sh", "-c", "tr a-z A-Z", input="hello\n")
    assert res.stdout == "HELLO\n"
    res = run(cli, state_root, "busybox", "cat", input="ignored\n")
    assert res.stdout == ""  # without -i, stdin is /dev/null as in Docker


def test_interactive_tty(cli, state_root):
    res = run(cli, state_root, "-i", "-t", "busybox", "sh", "-c", "read x; echo got:$x", input="abc\n")
    assert "got:abc" in res.stdout.replace("\r", "")


def test_without_rm_the_container_stays_until_rm(cli, state_root):
    res = mc(cli, state_root, "run", "--name", "keep", "busybox", "sh", "-c", "echo data > /file; exit 3")
    assert res.returncode == 3
    ps = mc(cli, state_root, "ps", "-a")
    assert "keep" in ps.stdout and "Exited (3)" in ps.stdout
    assert mc(cli, state_root, "ps").stdout.count("\n") == 1  # header only: nothing running
    again = mc(cli, state_root, "run", "--name", "keep", "busybox", "true")
    assert again.returncode == 125 and 'the container name "keep" is already in use' in again.stderr
    assert mc(cli, state_root, "rm", "keep").returncode == 0
    assert container_dirs(state_root) == []


def test_rm_leaves_nothing_behind(cli, state_root):
    before = set(census(state_root)["cgroups"])  # other work on this machine may have containers running
    for args in (["busybox", "true"], ["busybox", "sh", "-c", "exit 9"], ["busybox", "nosuchcommand"],
                 ["-w", "/etc/passwd/x", "busybox", "true"]):
        run(cli, state_root, *args)
    left = census(state_root)
    assert left["containers"] == [] and left["mounts"] == [] and left["processes"] == []
    assert set(left["cgroups"]) - before == set()


def test_unwritable_state_root(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = mc(cli, blocker, "run", "--rm", "busybox", "true")
    assert res.returncode == 125
    assert len(res.stderr.strip().splitlines()) == 1


def test_explain_lists_the_real_steps(cli, state_root):
    res = run(cli, state_root, "--explain", "busybox", "true")
    assert res.returncode == 0
    calls = [line.split()[2].split("(")[0] for line in res.stderr.splitlines() if line[:3].strip().isdigit()]
    for needed in ("fork", "unshare", "mount", "pivot_root", "umount2", "sethostname", "execve"):
        assert needed in calls
    assert calls.index("unshare") < calls.index("pivot_root") < calls.index("execve")
    assert calls[-1] == "execve"

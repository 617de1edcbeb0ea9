"""The session a trainee types, with the real docker CLI (28.x on PATH and Debian's 20.10),
through ``DOCKER_HOST=unix://…`` to ``minicontainer engine``: nothing in the client knows it is
not talking to dockerd."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import time
import urllib.request

import pytest

from minicontainer.runtime import Runtime



@pytest.fixture(autouse=True)
def _no_nat(monkeypatch):
    """Only 127.0.0.1 and the test's own bridges here: no outbound NAT rules in the host's packet filter."""
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def out(done) -> str:
    return done.stdout.decode(errors="replace")


def test_version_run_and_exit_codes(docker_cli, engine):
    version = json.loads(out(docker_cli("version", "--format", "{{json .Server}}")))
    assert version["ApiVersion"] == "1.45" and version["MinAPIVersion"] == "1.24"
    info = json.loads(out(docker_cli("info", "--format", "{{json .}}")))
    assert info["Driver"] == "overlay2" and info["OSType"] == "linux" and info["CgroupVersion"] in ("1", "2")
    assert "Containers:" in out(docker_cli("info"))             # the human-readable form the course shows
    assert out(docker_cli("run", "--rm", "busybox", "echo", "hi")) == "hi\n"
    done = docker_cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (done.returncode, out(done), done.stderr.decode()) == (3, "out\n", "err\n")
    done = docker_cli("run", "--rm", "busybox", "no-such-command", check=False)
    assert done.returncode == 127
    assert b"no such file or directory" in done.stderr or b"executable file not found" in done.stderr
    assert docker_cli("run", "--rm", "busybox", "/etc/passwd", check=False).returncode == 126
    assert docker_cli("run", "--rm", "--name", "x y", "busybox", "true", check=False).returncode == 125
    done = docker_cli("run", "--rm", "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
                      "x=a; while true; do x=$x$x; done", check=False)
    assert done.returncode == 137
    assert Runtime(engine.root).containers.list() == []      # every --rm container is gone


def test_detached_web_server_logs_exec_cp_and_stop(docker_cli, engine, tmp_path):
    port = free_port()
    cid = out(docker_cli("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
                         "mkdir /www && echo served-by-minicontainer > /www/index.html && "
                         "echo started && exec httpd -f -p 80 -h /www")).strip()
    assert len(cid) == 64
    body = None
    for _ in range(50):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    assert body == b"served-by-minicontainer\n"
    assert out(docker_cli("inspect", "--format", "{{.State.Status}}", "web")) == "running\n"
    assert out(docker_cli("logs", "web")) == "started\n"
    ps = out(docker_cli("ps", "-a", "--format", "{{.Names}} {{.Ports}}"))
    assert f"web 127.0.0.1:{port}->80/tcp" in ps
    assert "httpd -f -p 80 -h /www" in out(docker_cli("top", "web"))
    stats = out(docker_cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web"))
    assert stats.split() == ["web", "1"]
    assert out(docker_cli("exec", "web", "cat", "/www/index.html")) == "served-by-minicontainer\n"
    assert docker_cli("exec", "web", "sh", "-c", "exit 5", check=False).returncode == 5
    # docker cp, both ways
    src = tmp_path / "note.txt"
    src.write_text("from the host\n")
    docker_cli("cp", str(src), "web:/tmp/")
    assert out(docker_cli("exec", "web", "cat", "/tmp/note.txt")) == "from the host\n"
    docker_cli("cp", "web:/www/index.html", str(tmp_path / "index.html"))
    assert (tmp_path / "index.html").read_text() == "served-by-minicontainer\n"
    docker_cli("cp", "web:/www", str(tmp_path))
    assert (tmp_path / "www" / "index.html").is_file()
    docker_cli("stop", "-t", "1", "web")
    assert out(docker_cli("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web")).split()[0] \
        == "exited"
    docker_cli("rm", "web")
    assert out(docker_cli("ps", "-a", "-q")) == ""


def test_logs_follow_kill_and_rm_force(docker_cli, engine):
    docker_cli("run", "-d", "--name", "counter", "busybox", "sh", "-c",
               "for i in 1 2 3; do echo line $i; sleep 0.2; done")
    assert out(docker_cli("logs", "-f", "counter")) == "line 1\nline 2\nline 3\n"   # ends with the container
    docker_cli("run", "-d", "--name", "sleeper", "busybox", "sleep", "600")
    docker_cli("kill", "sleeper")
    assert out(docker_cli("inspect", "--format", "{{.State.ExitCode}}", "sleeper")) == "137\n"
    docker_cli("start", "sleeper")
    docker_cli("rm", "-f", "sleeper", "counter")
    assert out(docker_cli("ps", "-a", "-q")) == ""


def drive(argv, env, keys: list[bytes], wait: float = 20.0) -> tuple[int, bytes]:
    """Run ``argv`` on a new pseudo-terminal, typing ``keys`` once the shell prompt shows."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, {**os.environ, **env})
    seen = b""
    mark = 0                # where the output after the last keys typed starts
    deadline = time.monotonic() + wait
    pending = list(keys)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                seen += data
            if pending and b"# " in seen[mark:]:      # a prompt (busybox sh follows it with ESC[6n)
                os.write(fd, pending.pop(0))
                seen += b"<typed>"
                mark = len(seen)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def test_run_and_exec_with_a_terminal(docker_cli, engine):
    code, seen = drive([docker_cli.binary, "run", "--rm", "-it", "busybox", "sh"], docker_cli.env,
                       [b"echo $((6*7)); tty\r", b"exit 4\r"])
    assert code == 4 and b"42\r\n/dev/pts/0" in seen
    docker_cli("run", "-d", "--name", "box", "busybox", "sleep", "600")
    code, seen = drive([docker_cli.binary, "exec", "-it", "box", "sh"], docker_cli.env,
                       [b"echo $((5*5)); tty\r", b"exit 6\r"])
    assert code == 6 and b"25\r\n/dev/pts/" in seen
    assert out(docker_cli("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"shout\n")) == "SHOUT\n"
    docker_cli("rm", "-f", "box")


def converse(argv, env, steps: list[tuple[bytes | None, bytes]], wait: float = 20.0) -> tuple[int | None, bytes]:
    """Run ``argv`` on a new pseudo-terminal; for each step wait until its text has shown since
    the last keys (None: do not wait), then type its keys. The exit code once it ends (None: it
    was still running at the deadline, and is killed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, {**os.environ, **env})
    seen, mark, pending = b"", 0, list(steps)
    deadline = time.monotonic() + wait
    code = None
    try:
        while time.monotonic() < deadline:
            if pending and (pending[0][0] is None or pending[0][0] in seen[mark:]):
                os.write(fd, pending.pop(0)[1])
                mark = len(seen)
                continue
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                seen += data
        else:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status) if time.monotonic() < deadline else None
    finally:
        os.close(fd)
    return code, seen


def test_attach_reaches_the_stdin_of_a_running_container(docker_cli, engine):
    """docker run -dit, then docker attach: the container's stdin is held by its monitor, so an
    attach long after the start can type into it; ctrl-p ctrl-q leaves it running (the docker CLI
    then says "read escape sequence" and exits 1, as it does against dockerd); a later attach
    ends with the container's own exit code."""
    docker_cli("run", "-dit", "--name", "shell", "busybox", "sh")
    code, seen = converse([docker_cli.binary, "attach", "shell"], docker_cli.env,
                          [(None, b"echo $((7*6))-attached\r"), (b"42-attached", b"\x10\x11")])
    assert code == 1 and b"42-attached" in seen and b"read escape sequence" in seen, seen
    assert out(docker_cli("inspect", "--format", "{{.State.Status}}", "shell")) == "running\n"
    code, seen = converse([docker_cli.binary, "attach", "shell"], docker_cli.env, [(None, b"exit 3\r")])
    assert code == 3, seen
    docker_cli("rm", "shell")

    docker_cli("run", "-di", "--name", "reader", "busybox", "sh", "-c", "while read line; do echo got $line; done")
    for word in (b"first", b"second"):    # the first client's end-of-file leaves it open (not StdinOnce)
        attach = subprocess.Popen([docker_cli.binary, "attach", "reader"], env={**os.environ, **docker_cli.env},
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            attach.stdin.write(word + b"\n")
            attach.stdin.flush()
            assert select.select([attach.stdout], [], [], 15)[0], f"no answer to {word!r}"
            assert attach.stdout.readline() == b"got " + word + b"\n"
            attach.stdin.close()
        finally:
            attach.kill()
            attach.wait(10)
    assert out(docker_cli("inspect", "--format", "{{.State.Status}}", "reader")) == "running\n"
    docker_cli("rm", "-f", "reader")


@pytest.mark.parametrize("n", [20])
def test_parallel_runs_through_one_engine(docker_cli, engine, n, tmp_path):
    """20 clients at once: all succeed, each container got its own id (hostname) and address.

    A --rm container gives its address back when it exits, so a later one may rightly get it
    again: each container signs in to a shared directory and waits until all n are alive, so
    the n addresses printed were all held at the same time and must differ."""
    import subprocess
    barrier = tmp_path / "alive"
    barrier.mkdir()
    script = (f"touch /alive/$(cat /etc/hostname); i=0; "
              f"while [ $(ls /alive | wc -l) -lt {n} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; "
              "cat /etc/hostname; ip -4 -o addr show eth0 | awk '{print $4}'")
    since = int(time.time()) - 1
    procs = [subprocess.Popen([docker_cli.binary, "run", "--rm", "-v", f"{barrier}:/alive", "busybox",
                               "sh", "-c", script],
                              env=docker_cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(n)]
    results = [(p.wait(180), *p.communicate()) for p in procs]
    failed = [(code, err.decode()) for code, _, err in results if code != 0]
    assert not failed
    lines = [o.decode().split() for _, o, _ in results]
    assert all(len(x) == 2 for x in lines), lines
    assert len(list(barrier.iterdir())) == n                 # all n were alive together
    assert len({x[0] for x in lines}) == n and len({x[1] for x in lines}) == n
    names = out(docker_cli("events", "--since", str(since), "--until", str(int(time.time()) + 1), "--filter",
                           "event=create", "--format", "{{.Actor.Attributes.name}}")).split()
    assert len(names) == n and len(set(names)) == n, names           # each got its own generated name
    assert Runtime(engine.root).containers.list() == []

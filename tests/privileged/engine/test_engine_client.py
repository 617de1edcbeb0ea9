"""``minicontainer -H unix://…`` (and MINICONTAINER_HOST): the lab's own CLI as a client of the engine.

The commands a trainee types without an engine give the same output and exit codes with one,
and what they start is the engine's: the state root is the engine's, not the client's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer.runtime import Runtime

CLI = str(Path(sys.executable).with_name("minicontainer"))


@pytest.fixture(autouse=True)
def _no_nat(monkeypatch):
    """Only 127.0.0.1 and the test's own bridges here: no outbound NAT rules in the host's packet filter."""
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")


def mc(engine, *args, input=None, env=None):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    if env is None:
        argv = [CLI, "-H", engine.host, *args]
    else:
        argv, base = [CLI, *args], {**base, **env}
    return subprocess.run(argv, input=input, capture_output=True, env=base, timeout=120)


def test_run_through_the_engine_keeps_output_and_exit_codes(engine):
    done = mc(engine, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    assert mc(engine, "run", "--rm", "busybox", "tr", "a-z", "A-Z").stdout == b""      # no -i: no stdin
    done = mc(engine, "run", "--rm", "-i", "--network", "none", "busybox", "tr", "a-z", "A-Z", input=b"shout\n")
    assert (done.returncode, done.stdout) == (0, b"SHOUT\n")
    done = mc(engine, "run", "--rm", "--network", "none", "busybox", "no-such-command")
    assert done.returncode == 127 and done.stderr.count(b"\n") == 1
    assert mc(engine, "run", "--rm", "--network", "none", "busybox", "/etc/passwd").returncode == 126
    done = mc(engine, "run", "--rm", "--network", "none", "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
              "x=a; while true; do x=$x$x; done")
    assert done.returncode == 137
    assert Runtime(engine.root).containers.list() == []      # the engine removed every --rm container


def test_a_detached_container_seen_by_ps_logs_inspect_stop_rm(engine):
    env = {"MINICONTAINER_HOST": engine.host}
    done = mc(engine, "run", "-d", "--name", "web", "--network", "none", "busybox", "sh", "-c",
              "echo started; exec sleep 600", env=env)
    assert done.returncode == 0, done.stderr
    cid = done.stdout.decode().strip()
    assert len(cid) == 64 and [c.id for c in Runtime(engine.root).containers.list()] == [cid]
    lines = mc(engine, "ps", env=env).stdout.decode().splitlines()
    assert lines[0].split()[:2] == ["CONTAINER", "ID"] and lines[1].split()[0] == cid[:12]
    assert lines[1].split()[-1] == "web" and "Up " in lines[1]
    for _ in range(50):
        if mc(engine, "logs", "web", env=env).stdout == b"started\n":
            break
    assert mc(engine, "logs", "web", env=env).stdout == b"started\n"
    assert mc(engine, "inspect", "-f", "{{.State.Status}}", "web", env=env).stdout == b"running\n"
    doc = json.loads(mc(engine, "inspect", "web", env=env).stdout)
    assert doc[0]["Id"] == cid and doc[0]["Name"] == "/web"
    done = mc(engine, "rm", "web", env=env)
    assert (done.returncode, done.stderr.count(b"\n")) == (1, 1)
    assert b"container is running: stop the container before removing or use -f" in done.stderr
    assert mc(engine, "stop", "-t", "1", "web", env=env).stdout == b"web\n"
    assert b"Exited (" in mc(engine, "ps", "-a", env=env).stdout
    assert mc(engine, "rm", "web", env=env).stdout == b"web\n"
    assert mc(engine, "ps", "-aq", env=env).stdout == b""


def test_version_images_and_refusals(engine):
    done = mc(engine, "version")
    assert done.returncode == 0 and b"Server: " in done.stdout and b"API 1.45" in done.stdout
    assert b"busybox" in mc(engine, "images").stdout
    done = mc(engine, "run", "--explain", "busybox", "true")
    assert done.returncode == 125 and b"--explain needs the runtime" in done.stderr
    done = mc(engine, "build", ".")
    assert done.returncode == 125 and b"does not go through an engine" in done.stderr
    done = mc(engine, "--root", "/tmp", "ps", env={"MINICONTAINER_HOST": engine.host})
    assert done.returncode == 125 and b"--root belongs to the engine" in done.stderr
    done = mc(engine, "rm", "no-such-container")
    assert done.returncode == 1 and done.stderr.startswith(b"minicontainer: ") and done.stderr.count(b"\n") == 1
    gone = engine.sock.with_name("gone.sock")
    done = subprocess.run([CLI, "-H", f"unix://{gone}", "ps"], capture_output=True, timeout=60)
    assert done.returncode == 125 and b"cannot connect to the engine" in done.stderr
    assert Runtime(engine.root).containers.list() == []

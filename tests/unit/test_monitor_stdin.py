"""The monitor's stdin side (mc-monitor.c and its Python twin): what a client writes to the
attach socket reaches the container's stdin; StdinOnce closes it at the client's end-of-file;
a long socket path works; the socket is gone when the container is. Run against a plain
``cat`` child standing in for a container's PID 1 (no privileges needed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import monitor


@pytest.fixture(scope="module")
def mc_binary(tmp_path_factory) -> str:
    built = monitor.binary()
    if built:
        return built
    out = tmp_path_factory.mktemp("bin") / "mc-monitor"
    subprocess.run(["cc", "-O2", "-Wall", "-o", str(out), str(monitor.SOURCE)], check=True)
    return str(out)


def _connect(path: Path, timeout: float = 10.0) -> socket.socket:
    dirfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(f"/proc/self/fd/{dirfd}/{path.name}")
                return s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        os.close(dirfd)


def _start(kind: str, mc_binary: str, folder: Path, once: bool):
    """A ``cat`` whose stdin, stdout and stderr are pipes, and a monitor holding their other ends."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    cat = subprocess.Popen(["cat"], stdin=in_r, stdout=out_w, stderr=err_w)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    spec = monitor.DetachSpec(exit_file=str(folder / "exit"), log_file=str(folder / "container.log"),
                              cleanup_argv=["/bin/true"], binary=mc_binary if kind == "c" else None,
                              attach_socket=str(folder / monitor.ATTACH_SOCKET), stdin_once=once)
    code = ("import json, sys; from minicontainer import monitor; from minicontainer.kernel import default; "
            "a = json.loads(sys.argv[1]); monitor.hand_over(default(), monitor.DetachSpec(**a['spec']), *a['fds'])")
    args = json.dumps({"spec": spec.__dict__, "fds": [cat.pid, out_r, err_r, in_w]})
    mon = subprocess.Popen([sys.executable, "-c", code, args], pass_fds=(out_r, err_r, in_w))
    for fd in (out_r, err_r, in_w):
        os.close(fd)
    return cat, mon


def _log(folder: Path) -> str:
    path = folder / "container.log"
    return "".join(json.loads(line)["log"] for line in path.read_text().splitlines()) if path.exists() else ""


@pytest.mark.parametrize("kind", ["c", "python"])
def test_stdin_once_closes_at_the_first_clients_end_of_file(kind, mc_binary, tmp_path):
    folder = tmp_path / ("a-long-directory-name-" * 5)     # beyond a unix address's 108 bytes
    folder.mkdir()
    assert len(str(folder / monitor.ATTACH_SOCKET)) > 108
    cat, mon = _start(kind, mc_binary, folder, once=True)
    try:
        client = _connect(folder / monitor.ATTACH_SOCKET)
        client.sendall(b"typed into the container\n")
        client.shutdown(socket.SHUT_WR)         # end-of-file: StdinOnce closes the container's stdin
        assert cat.wait(10) == 0                # cat saw the end of its input
        assert mon.wait(10) == 0                # the monitor logged, wrote the exit, ran the cleanup
        client.close()
        assert _log(folder) == "typed into the container\n"
        assert (folder / "exit").exists()
        assert not (folder / monitor.ATTACH_SOCKET).exists()
    finally:
        for proc in (cat, mon):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("kind", ["c", "python"])
def test_without_stdin_once_the_next_client_types_on(kind, mc_binary, tmp_path):
    cat, mon = _start(kind, mc_binary, tmp_path, once=False)
    try:
        for word in (b"first\n", b"second\n"):
            client = _connect(tmp_path / monitor.ATTACH_SOCKET)
            client.sendall(word)
            client.close()                     # an end-of-file that must not close cat's stdin
            deadline = time.monotonic() + 10
            while word.decode() not in _log(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.02)
        assert _log(tmp_path) == "first\nsecond\n"
        assert cat.poll() is None               # still reading
    finally:
        cat.kill()
        cat.wait()
        assert mon.wait(10) == 0
        for proc in (cat, mon):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("kind", ["c", "python"])
def test_the_monitor_keeps_none_of_its_parents_descriptors(kind, mc_binary, tmp_path):
    """An engine forks the monitor while it holds its listening socket and its lock (close-on-exec):
    mc-monitor's exec drops them, and the Python twin, which does not exec, must close them itself,
    or a stopped engine's lock outlives it in every container's monitor."""
    held_r, held_w = os.pipe()
    cat = subprocess.Popen(["cat"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out_r, out_w = os.pipe()
    spec = monitor.DetachSpec(exit_file=str(tmp_path / "exit"), log_file=str(tmp_path / "container.log"),
                              cleanup_argv=["/bin/true"], binary=mc_binary if kind == "c" else None)
    code = ("import json, os, sys; from minicontainer import monitor; from minicontainer.kernel import default; a = json.loads(sys.argv[1]); "
            "os.set_inheritable(a['held'], False); "
            "monitor.hand_over(default(), monitor.DetachSpec(**a['spec']), a['pid'], a['out'], a['out'])")
    args = json.dumps({"spec": spec.__dict__, "pid": cat.pid, "out": out_r, "held": held_w})
    mon = subprocess.Popen([sys.executable, "-c", code, args], pass_fds=(out_r, held_w))
    for fd in (out_r, held_w):
        os.close(fd)
    try:
        import select
        assert select.select([held_r], [], [], 10)[0], "the monitor still holds its parent's descriptor"
        assert os.read(held_r, 1) == b"" and mon.poll() is None      # closed, and still monitoring
        os.close(out_w)                                              # the container's output ends
    finally:
        os.close(held_r)
        for proc in (cat, mon):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

"""``minicontainer engine --trace``: after an API call, the log shows the kernel steps it caused: for a
start the ``--explain`` steps in the runtime and in the container; for a stop or a removal its kill(2)s and rmdir(2)s."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest


@pytest.fixture
def traced(state_root, caplog):
    """An engine with --trace on a socket in a temporary folder, a docker-py client for it, and
    afterwards (``traced.messages()``) the engine's log lines."""
    from minicontainer.engine.server import Engine, Listener
    folder = Path(tempfile.mkdtemp(prefix="mce-"))
    listener = Listener(folder / "engine.sock", Engine(state_root, trace=True))
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve_until, args=(stop,), daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="minicontainer.engine")
    client = docker.DockerClient(base_url=f"unix://{folder / 'engine.sock'}", version="auto", timeout=60)
    messages = lambda: [r.getMessage() for r in caplog.records if r.name == "minicontainer.engine"]  # noqa: E731
    try:
        yield SimpleNamespace(client=client, messages=messages)
    finally:
        client.close()
        stop.set()
        thread.join(15)
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_trace_logs_the_kernel_steps_of_a_start(traced):
    c = traced.client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    c.remove(force=True)
    messages = traced.messages()
    traces = [m for m in messages if m.startswith(f"start {c.id[:12]}: ")]
    assert len(traces) == 1, messages
    text = traces[0]
    for call in ("unshare(", "pivot_root(", "execve("):
        assert call in text, text[:2000]
    assert "runtime" in text and "container" in text          # both sides of the fork
    assert "$CTR" in text                                     # the container's folder, aliased
    started = [n for n, m in enumerate(messages) if "/start" in m and m.startswith('"POST')]
    assert started and messages.index(text) < started[0] + 3  # logged with its request


def test_no_trace_without_the_flag(client, engine, caplog):
    caplog.set_level(logging.INFO, logger="minicontainer.engine")
    c = client.containers.run("busybox", ["true"], detach=True, network_mode="none")
    c.wait()
    c.remove()
    assert not [r for r in caplog.records if "kernel steps" in r.getMessage()]


def test_trace_logs_the_kernel_steps_of_a_stop_and_a_removal(traced):
    """Not only starts: a stop shows its kill(2), a forced removal its SIGKILL and the cgroup rmdir(2)s."""
    client = traced.client
    c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    c.stop(timeout=5)
    c.remove()
    forced = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    forced.remove(force=True)
    deadline = time.monotonic() + 10      # the engine logs a request's steps after it has answered it
    while not any(m.startswith("DELETE /") and f"/containers/{forced.id}: " in m for m in traced.messages()):
        assert time.monotonic() < deadline, traced.messages()
        time.sleep(0.05)
    messages = traced.messages()
    stopped = [m for m in messages if m.startswith("POST /") and f"/containers/{c.id}/stop: " in m]
    assert len(stopped) == 1 and "kill(" in stopped[0] and ", 15)" in stopped[0], messages
    removed = [m for m in messages if m.startswith("DELETE /") and f"/containers/{forced.id}: " in m]
    assert len(removed) == 1 and ", 9)" in removed[0] and "rmdir(" in removed[0], messages

"""``minicontainer engine --trace``: after the API call that started a container, the log shows
the kernel steps that start took (the ``--explain`` steps), in the runtime and in the container."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path

import docker


def test_trace_logs_the_kernel_steps_of_a_start(state_root, caplog):
    from minicontainer.engine.server import Engine, Listener
    folder = Path(tempfile.mkdtemp(prefix="mce-"))
    listener = Listener(folder / "engine.sock", Engine(state_root, trace=True))
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve_until, args=(stop,), daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="minicontainer.engine")
    client = docker.DockerClient(base_url=f"unix://{folder / 'engine.sock'}", version="auto", timeout=60)
    try:
        c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
        c.remove(force=True)
    finally:
        client.close()
        stop.set()
        thread.join(15)
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "minicontainer.engine"]
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

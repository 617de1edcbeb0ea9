"""An engine on a socket in a temporary directory, and real clients for it.

Lives under tests/privileged/ so the privileged fixtures apply unchanged: ``state_root``
(a fresh root with busybox, and the leak census afterwards), the root check and the default
bridge's cleanup. The engine runs in this process (``Listener`` on its own thread), on a
socket in a short temporary directory (a unix socket path holds at most 107 bytes), and is
stopped before the census runs. Its scratch folder must be empty by then: an upload or a
build that failed may leave nothing behind.

``docker_cli`` is parametrized over the two docker CLIs the issue names: the one on PATH
(28.x on this machine image, API 1.50) and Debian's docker.io (20.10, API 1.41) that
``make docker-cli`` unpacks into build/docker-cli/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture
def engine(state_root):
    from minicontainer.engine.server import Engine, Listener
    folder = Path(tempfile.mkdtemp(prefix="mce-"))
    sock = folder / "engine.sock"
    listener = Listener(sock, Engine(state_root))
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve_until, args=(stop,), name="test-engine", daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(sock=sock, host=f"unix://{sock}", root=state_root)
    finally:
        stop.set()
        thread.join(15)
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
    scratch = state_root / "engine-tmp"
    left = sorted(os.listdir(scratch)) if scratch.is_dir() else []
    assert not left, f"engine scratch files left behind: {left}"


@pytest.fixture
def client(engine):
    """docker-py (the Docker SDK for Python), negotiating the API version as it does by default."""
    import docker
    c = docker.DockerClient(base_url=engine.host, version="auto", timeout=120)
    try:
        yield c
    finally:
        c.close()


def _debian_cli() -> Path:
    from minicontainer.paths import project_build_dir
    return project_build_dir() / "docker-cli" / "docker"


CLIS = {"path": lambda: shutil.which("docker"), "debian": lambda: str(_debian_cli())}


@pytest.fixture(params=sorted(CLIS))
def docker_cli(request, engine, tmp_path):
    """``run(*args, input=..., env=..., check=True)`` with one of the two docker CLIs, against ``engine``."""
    binary = CLIS[request.param]()
    if not binary or not os.access(binary, os.X_OK):
        if request.param == "debian":
            pytest.fail(f"no docker CLI at {binary}: run `make docker-cli`")
        pytest.skip("no docker CLI on PATH")
    config = tmp_path / "docker-config"          # never the user's ~/.docker (no buildx plugin, no contexts)
    config.mkdir()
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
                "DOCKER_HOST": engine.host, "DOCKER_CONFIG": str(config)}

    def run(*args, input=None, env=None, check=True, timeout=120):
        done = subprocess.run([binary, *args], input=input, env={**base_env, **(env or {})},
                              capture_output=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}: "
                                 f"{done.stderr.decode(errors='replace')}")
        return done
    run.binary, run.kind, run.env, run.config = binary, request.param, base_env, config
    return run


# An engine test that hangs (a deadlock between engine threads, say) must fail in minutes,
# not hold the whole suite for the global 900 s: the slowest of them takes ~10 s here.
ENGINE_TEST_TIMEOUT = 180


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(ENGINE_TEST_TIMEOUT))

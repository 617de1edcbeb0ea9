"""The engine rows of the start-latency benchmark: an engine on the bench's state, two clients.

``minicontainer engine`` is started once, as a subprocess on a socket in the bench's
temporary directory, with the same state root as the direct contender (so the same busybox
image and the same overlay cache), and stopped with SIGTERM at the end. Two clients start
``/bin/true`` through it, each a fresh process per run as a user's command would be:

* ``minicontainer -H unix://SOCK run --rm ...``: the lab's light client (cli/remote.py);
* ``docker -H unix://SOCK run --rm ...``: the docker CLI (a Go binary: no interpreter to
  start), with a scratch DOCKER_CONFIG so the user's contexts and plugins are not read.

``docker --version`` is timed as a reference row: what the docker CLI costs before it
sends a single request.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from _common import BenchError

from minicontainer import paths


def find_docker() -> str:
    """The docker CLI on PATH, or the one ``make docker-cli`` unpacked into build/."""
    found = shutil.which("docker")
    if found:
        return found
    unpacked = paths.project_build_dir() / "docker-cli" / "docker"
    if os.access(unpacked, os.X_OK):
        return str(unpacked)
    raise BenchError("no docker CLI on PATH or in build/docker-cli (run 'make docker-cli')", op="find tools")


class Engine:
    """``minicontainer --root STATE engine -H unix://TMP/engine.sock`` for the length of a ``with``."""

    def __init__(self, minicontainer: str, state: Path, tmp: Path, timeout: float = 30.0):
        self.sock = tmp / "engine.sock"
        self.host = f"unix://{self.sock}"
        self.log = tmp / "engine.log"
        self.argv = [minicontainer, "--root", str(state), "engine", "-H", self.host]
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Engine":
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "MINICONTAINER_NAT_BACKEND": "none"})
        deadline = time.monotonic() + self.timeout
        while b"engine listening on" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise BenchError(f"the engine did not start: {tail[0]}", op="start engine", path=self.sock)
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def requests(self) -> int:
        """How many requests the engine logged (one line each): a check that the clients reached it."""
        return len(re.findall(r'"(?:GET|HEAD|POST|PUT|DELETE) /', self.log.read_text(errors="replace")))

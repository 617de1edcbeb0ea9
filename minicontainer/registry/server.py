"""The lab registry: Debian's ``docker-registry`` (CNCF distribution 2.8), run by us.

A registry is an ordinary HTTP server storing blobs and manifests in a directory. The
Debian package also installs a system service on ``:5000`` on *every* interface; the lab
never uses it (the install script masks it). Instead :class:`LabRegistry` writes its own
configuration into a directory of ours (``build/registry/`` by default, a temporary one in
tests) and runs ``docker-registry serve config.yml`` as a child:

* ``http.addr`` is ``127.0.0.1:PORT`` - reachable from this machine only, which is also
  why plain HTTP is acceptable for it (:mod:`.settings`);
* ``storage.filesystem.rootdirectory`` is ``DIR/storage``; ``storage.delete.enabled`` lets
  manifests be deleted through the API;
* with users, ``auth.htpasswd`` points at ``DIR/htpasswd``, which we write with bcrypt
  hashes (the only scheme the registry accepts), so every request needs Basic credentials;
* its log goes to ``DIR/registry.log`` and its pid to ``DIR/registry.pid``.

The configuration is YAML; we write it as JSON, which YAML 1.2 reads as it is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import MiniContainerError, StateError, UsageError
from ..paths import PROC_ROOT

BINARY = "docker-registry"
HOST = "127.0.0.1"
DEFAULT_PORT = 5000


class LabRegistry:
    """The registry whose config, storage, log and pid file live in ``directory``."""

    def __init__(self, directory, *, proc_root=PROC_ROOT) -> None:
        self.dir = Path(directory).absolute()
        self.config = self.dir / "config.yml"
        self.pid_file = self.dir / "registry.pid"
        self.log = self.dir / "registry.log"
        self.htpasswd = self.dir / "htpasswd"
        self.storage = self.dir / "storage"
        self._proc_root = Path(proc_root)
        self._child: subprocess.Popen | None = None

    # -- configuration -------------------------------------------------------------
    def write_config(self, port: int, users: dict[str, str] | None = None, auth: dict | None = None) -> None:
        """Our config.yml; ``auth`` replaces the auth section as it is (e.g. ``{"token": {...}}``
        for the distribution token flow: realm, service, issuer, rootcertbundle)."""
        cfg = {"version": 0.1,
               "log": {"level": "info", "fields": {"service": "registry"}},
               "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
               "http": {"addr": f"{HOST}:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}}}
        if users:
            self.write_htpasswd(users)
            cfg["auth"] = {"htpasswd": {"realm": "minicontainer-lab", "path": str(self.htpasswd)}}
        elif self.htpasswd.exists():
            self.htpasswd.unlink()
        if auth:
            cfg["auth"] = auth
        text = "# the lab registry, written by minicontainer (JSON is YAML)\n" + json.dumps(cfg, indent=2) + "\n"
        self.config.write_text(text)

    def write_htpasswd(self, users: dict[str, str]) -> None:
        """``user:bcrypt-hash`` lines, mode 0600 (htpasswd(1) -B writes the same)."""
        import bcrypt
        lines = []
        for user, password in users.items():
            if not user or ":" in user or "\n" in user:
                raise UsageError(f"invalid user name {user!r}", op="registry")
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5, prefix=b"2a")).decode()
            lines.append(f"{user}:{hashed}\n")
        fd = os.open(self.htpasswd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)

    # -- the process -----------------------------------------------------------------
    def pid(self) -> int | None:
        """The registry's pid if it runs (and is ours: its command line names our config)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = (self._proc_root / str(pid) / "cmdline").read_bytes().split(b"\0")
            stat = (self._proc_root / str(pid) / "stat").read_text()
        except (OSError, ValueError):
            return None
        if str(self.config).encode() not in cmdline or stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return pid

    def address(self) -> str | None:
        try:
            return json.loads(self.config.read_text().split("\n", 1)[1])["http"]["addr"]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def start(self, port: int = DEFAULT_PORT, *, users: dict[str, str] | None = None, auth: dict | None = None,
              timeout: float = 15.0) -> str:
        """Start the registry on 127.0.0.1:``port``; returns ``host:port`` once it answers."""
        if self.pid() is not None:
            raise StateError(f"already running at {self.address()} (pid {self.pid()})", op="registry start",
                             path=self.dir)
        binary = shutil.which(BINARY)
        if binary is None:
            raise MiniContainerError("docker-registry is not installed (Debian package docker-registry; "
                                     "scripts/install-system-deps.sh)", op="registry start")
        if _port_taken(port):
            raise StateError(f"port {port} on {HOST} is in use", op="registry start")
        self.storage.mkdir(parents=True, exist_ok=True)
        self.write_config(port, users, auth)
        with open(self.log, "ab") as log:
            self._child = subprocess.Popen([binary, "serve", str(self.config)], stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=log, start_new_session=True, close_fds=True)
        self.pid_file.write_text(f"{self._child.pid}\n")
        address = f"{HOST}:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise MiniContainerError(f"registry exited at start: {self._last_log_line()}", op="registry start",
                                         path=self.log)
            if _answers(HOST, port):
                return address
            time.sleep(0.05)
        self.stop()
        raise MiniContainerError(f"registry did not answer within {timeout:.0f}s", op="registry start", path=self.log)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, wait, SIGKILL if need be; False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        from ..kernel import default, send_signal
        sys = default()
        send_signal(sys, pid, signal.SIGTERM, "stop the registry")
        deadline = time.monotonic() + timeout
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._alive(pid):
            send_signal(sys, pid, signal.SIGKILL, "a registry that outlived its SIGTERM")
            while self._alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _alive(self, pid: int) -> bool:
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None       # our own child: reap it
        return self.pid() == pid

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no log"


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((HOST, port)) == 0


def _answers(host: str, port: int) -> bool:
    """Does ``GET /v2/`` get an answer (200, or 401 when auth is on)?"""
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(f"GET /v2/ HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]

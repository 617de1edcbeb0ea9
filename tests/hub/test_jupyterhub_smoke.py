"""Classroom scale: a real JupyterHub with two trainees, each kernel an ordinary user.

docs/classroom-hub.md describes the set-up; this test brings up exactly that, small:

- JupyterHub (PyPI) on 127.0.0.1 with configurable-http-proxy (npm, installed by the Makefile
  under build/hub/), random ports, its database, cookie secret and logs in a temporary folder;
- two throwaway Unix users created here (``useradd``, which also gives them subordinate ids in
  /etc/subuid for rootless containers) and removed in ``finally`` with everything they ran;
- ``LocalProcessSpawner``: each trainee's Jupyter server, and so each kernel, runs as that user;
- a hub *service* with an API token and a role that may start servers and use them, so the test
  talks to the hub REST API and to each user's kernel (REST + the kernel's websocket channel)
  like any Jupyter client, without a browser or a password.

Proved: each user's kernel runs as that user (not root), in its own home; and each kernel
starts a rootless container (``minicontainer run`` as an ordinary user, in a user namespace).
Needs root (to create users and to spawn as them); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PROXY = ROOT / "build" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_START_TIMEOUT = 60
SPAWN_TIMEOUT = 60

CONFIG = """\
# written by tests/hub/test_jupyterhub_smoke.py; see docs/classroom-hub.md for the real one
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.pid_file = {base!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {base!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {base!r} + "/cookie_secret"
c.JupyterHub.pid_file = {base!r} + "/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.start_timeout = {spawn_timeout}
c.Spawner.http_timeout = {spawn_timeout}
c.Spawner.environment = {{"PATH": {path!r}}}
c.Authenticator.allowed_users = set({users!r})
c.JupyterHub.services = [{{"name": "smoke", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "smoke-runner",
    "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
    "services": ["smoke"],
}}]
"""

WHOAMI = """\
import json, os, pwd, pathlib
home = pathlib.Path.home()
(home / "hub-smoke.txt").write_text("written by " + pwd.getpwuid(os.geteuid()).pw_name)
print(json.dumps({"user": pwd.getpwuid(os.geteuid()).pw_name, "uid": os.geteuid(),
                  "home": str(home), "cwd": os.getcwd()}))
"""

ROOTLESS = """\
import json, subprocess
mc = {mc!r}
pull = subprocess.run([mc, "pull", "busybox"], capture_output=True, text=True, timeout=120)
run = subprocess.run([mc, "run", "--rm", "busybox", "sh", "-c", "id -u; hostname; echo hello from {user}"],
                     capture_output=True, text=True, timeout=120)
print(json.dumps({{"pull": [pull.returncode, pull.stderr[-500:]],
                  "run": [run.returncode, run.stdout, run.stderr[-1000:]]}}))
"""


# talk to 127.0.0.1 directly even when http_proxy/https_proxy are set (corporate networks)
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """The REST side of a running hub, as the 'smoke' service sees it."""

    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def request(self, method: str, path: str, body=None, timeout: float = 10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, method=method, data=data,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with LOCAL.open(req, timeout=timeout) as resp:
            text = resp.read().decode()
            return resp.status, (json.loads(text) if text.strip() else None)

    def server_ready(self, user: str) -> bool:
        _, model = self.request("GET", f"/hub/api/users/{user}")
        server = (model.get("servers") or {}).get("")
        return bool(server and server.get("ready"))

    def start_server(self, user: str) -> None:
        """Spawn ``user``'s Jupyter server (unless it runs) and wait until the hub says it is ready."""
        if self.server_ready(user):
            return
        status, _ = self.request("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202), status
        deadline = time.monotonic() + SPAWN_TIMEOUT
        while time.monotonic() < deadline:
            if self.server_ready(user):
                return
            time.sleep(0.5)
        pytest.fail(f"the server of {user} was not ready within {SPAWN_TIMEOUT} s")

    def run_code(self, user: str, code: str, timeout: float = 120) -> str:
        """Start a kernel in ``user``'s server, run ``code``, return its stdout, delete the kernel."""
        _, kernel = self.request("POST", f"/user/{user}/api/kernels", {"name": "python3"})
        try:
            return _execute(self.base.replace("http://", "ws://") + f"/user/{user}/api/kernels/"
                            f"{kernel['id']}/channels", self.token, code, timeout)
        finally:
            self.request("DELETE", f"/user/{user}/api/kernels/{kernel['id']}")


def _execute(ws_url: str, token: str, code: str, timeout: float) -> str:
    """Send one execute_request on the kernel's websocket (Jupyter messaging protocol v5)."""
    from tornado import httpclient, ioloop, websocket   # a Jupyter server dependency

    async def run() -> str:
        req = httpclient.HTTPRequest(ws_url, headers={"Authorization": f"token {token}"})
        conn = await websocket.websocket_connect(req)
        msg_id = uuid.uuid4().hex
        conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "smoke", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        out, error = [], None
        try:
            while True:
                raw = await conn.read_message()
                if raw is None:
                    raise ConnectionError("the kernel's websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
        finally:
            conn.close()
        if error:
            raise AssertionError(f"the cell raised {error}\n{''.join(out)}")
        return "".join(out)

    return ioloop.IOLoop.current().run_sync(run, timeout=timeout)


def _kill_user_processes(uid: int) -> None:
    """Every process still running as a throwaway user (all started by this test), by PID."""
    import psutil
    for _ in range(2):
        procs = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
        for p in procs:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=5)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)       # the hub stops the proxy and the user servers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)    # the group the hub leads (hub, proxy)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def hub():
    """A running hub with two throwaway users: yields (Hub, [user names])."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates Unix users and spawns their servers as them")
    if not PROXY.exists():
        pytest.skip("needs configurable-http-proxy under build/hub (`make test` installs it from npm)")
    pytest.importorskip("jupyterhub", reason="needs jupyterhub (pip install -e '.[dev]')")
    for tool in ("useradd", "userdel"):
        if not shutil.which(tool):
            pytest.skip(f"needs {tool}(8)")

    base = Path(tempfile.mkdtemp(prefix="mc-hub-"))
    os.chmod(base, 0o755)                      # the users' homes live below it
    tag = uuid.uuid4().hex[:6]
    users = [f"mchub{tag}a", f"mchub{tag}b"]
    created: list[str] = []
    proc = None
    try:
        for name in users:
            subprocess.run(["useradd", "--create-home", "--home-dir", str(base / "home" / name),
                            "--shell", "/bin/sh", "--user-group", name], check=True, capture_output=True)
            created.append(name)
        port, token = _free_port(), os.urandom(24).hex()
        config = base / "jupyterhub_config.py"
        config.write_text(CONFIG.format(
            port=port, hub_port=_free_port(), proxy_api_port=_free_port(), proxy=str(PROXY), base=str(base),
            singleuser=str(VENV_BIN / "jupyterhub-singleuser"), spawn_timeout=SPAWN_TIMEOUT,
            path=f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", users=users, token=token))
        log = base / "jupyterhub.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "MPL"))}
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(config)], cwd=base, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        api = Hub(port, token)
        deadline = time.monotonic() + HUB_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyterhub exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if api.request("GET", "/hub/api/", timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyterhub did not answer within {HUB_START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield api, users
    finally:
        if proc is not None:
            _stop(proc)
        for name in created:
            try:
                _kill_user_processes(pwd.getpwnam(name).pw_uid)
            finally:
                subprocess.run(["userdel", "--remove", name], capture_output=True)
                subprocess.run(["groupdel", name], capture_output=True)   # in case userdel kept it
        shutil.rmtree(base, ignore_errors=True)


def test_each_trainee_kernel_runs_as_that_user(hub):
    api, users = hub
    _, info = api.request("GET", "/hub/api/")
    assert "version" in info
    for user in users:
        api.start_server(user)
    seen = {}
    for user in users:
        result = json.loads(api.run_code(user, WHOAMI).strip().splitlines()[-1])
        seen[user] = result
        entry = pwd.getpwnam(user)
        assert result["user"] == user and result["uid"] == entry.pw_uid != 0
        assert result["home"] == entry.pw_dir == result["cwd"]
        assert (Path(entry.pw_dir) / "hub-smoke.txt").read_text() == f"written by {user}"
        assert (Path(entry.pw_dir) / "hub-smoke.txt").stat().st_uid == entry.pw_uid
    assert len({r["uid"] for r in seen.values()}) == 2


def test_each_trainee_kernel_runs_a_rootless_container(hub):
    api, users = hub
    for user in users:
        api.start_server(user)        # already running when the test above ran first
        code = ROOTLESS.format(mc=str(VENV_BIN / "minicontainer"), user=user)
        result = json.loads(api.run_code(user, code, timeout=300).strip().splitlines()[-1])
        assert result["pull"][0] == 0, f"{user}: minicontainer pull busybox failed: {result['pull'][1]}"
        rc, out, err = result["run"]
        assert rc == 0, f"{user}: rootless minicontainer run failed ({rc}): {err}"
        uid_inside, hostname, greeting = out.strip().splitlines()[-3:]
        assert uid_inside == "0"               # root inside its user namespace ...
        assert greeting == f"hello from {user}"
        assert hostname and hostname != socket.gethostname()   # ... in its own UTS namespace

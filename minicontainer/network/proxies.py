"""Starting, recognising and stopping the port proxy processes (``proxy.py``).

Each published port gets its own process, started with the listening socket it must
serve already bound (see ``ports.bind_all``) and passed down as an inherited file
descriptor. The proxy runs in its own session (setsid(2), via ``start_new_session``) so
a ^C or a hang-up on the runtime's terminal does not reach it.

Proxies of a detached container must outlive the ``run`` process that started them,
so they cannot use prctl(PR_SET_PDEATHSIG) (that would kill them the moment ``run``
returns). Instead their PIDs are written into the endpoint record, and ``disconnect``
or ``prune`` stops them. PIDs get reused, so before signalling a PID we check
/proc/PID/cmdline (proc(5)) still names our proxy *and* this container.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import NetworkError
from ..paths import PROC_ROOT
from .ports import PortMapping

PROXY_PROGRAM = Path(__file__).with_name("proxy.py")
_CHILDREN: dict[int, subprocess.Popen] = {}   # proxies this process started (so it can reap them)


def proxy_argv(mapping: PortMapping, fd: int, container_ip: str, container_id: str) -> list[str]:
    """The proxy's command line: a bare interpreter (-I -S: no site-packages, no pyroute2)."""
    return [sys.executable, "-I", "-S", "-B", str(PROXY_PROGRAM), mapping.proto, str(fd), container_ip,
            str(mapping.container_port), "--container", container_id]


def spawn(sock: socket.socket, mapping: PortMapping, container_ip: str, container_id: str) -> int:
    """Start one proxy serving ``sock``; returns its PID."""
    fd = sock.fileno()
    try:
        proc = subprocess.Popen(proxy_argv(mapping, fd, container_ip, container_id), pass_fds=(fd,),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    except OSError as err:
        raise NetworkError(f"cannot start the port proxy: {(err.strerror or str(err)).lower()}",
                           op="publish", path=str(PROXY_PROGRAM)) from err
    _CHILDREN[proc.pid] = proc
    return proc.pid


def is_proxy_of(pid: int, container_id: str, proc_root: Path = PROC_ROOT) -> bool:
    """True if PID is alive and is our proxy for ``container_id`` (not a recycled PID)."""
    try:
        argv = (Path(proc_root) / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    try:
        at = argv.index(b"--container")
    except ValueError:
        return False
    return (at + 1 < len(argv) and argv[at + 1] == container_id.encode()
            and any(a.endswith(b"/proxy.py") for a in argv))


def stop(pid: int, container_id: str, proc_root: Path = PROC_ROOT, timeout: float = 2.0) -> bool:
    """SIGTERM our proxy (then SIGKILL if it lingers); False if it was already gone."""
    mine = pid in _CHILDREN and _CHILDREN[pid].poll() is None   # started by us and not yet reaped
    if not mine and not is_proxy_of(pid, container_id, proc_root):
        _reap(pid)
        return False
    from ..kernel import default, send_signal
    sys = default()
    if not send_signal(sys, pid, signal.SIGTERM, "stop a port proxy of the container"):
        _reap(pid)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reap(pid):
            return True
        if not _alive(pid, proc_root):   # exited; collect it if it is our child (no zombie left)
            _reap(pid, block=True)
            return True
        time.sleep(0.01)
    send_signal(sys, pid, signal.SIGKILL, "a port proxy that outlived its SIGTERM")
    _reap(pid, block=True)
    return True


def _alive(pid: int, proc_root: Path) -> bool:
    """Running (a zombie counts as gone: it no longer holds its socket)."""
    try:
        stat = (Path(proc_root) / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] not in ("Z", "X")


def _reap(pid: int, block: bool = False) -> bool:
    """Collect the exit status of a proxy we started ourselves; True once it has exited."""
    proc = _CHILDREN.get(pid)
    if proc is None:
        return False
    try:
        code = proc.wait(timeout=2.0) if block else proc.poll()
    except subprocess.TimeoutExpired:
        return False
    if code is not None:
        del _CHILDREN[pid]
        return True
    return False

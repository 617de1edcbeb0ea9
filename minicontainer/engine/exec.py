"""Exec endpoints: create an exec, start it (attached on a hijacked connection, or detached),
inspect it (its exit code), resize its terminal.

An exec is a record the engine keeps in memory (dockerd also forgets them when it
restarts): its command and options, then whether it runs and how it ended. The process
itself is made by the library's :func:`minicontainer.runtime.exec.exec_in`, which joins
the container's namespaces and cgroup with setns(2) (the same as ``minicontainer exec``).
The docker CLI reads the exit code with ``GET /exec/ID/json`` once the stream has ended,
so the code is recorded before the stream is closed.
"""

from __future__ import annotations

import os
import secrets
import select
import threading

from ..errors import NotFoundError, StateError, UsageError
from ..runtime.state import Status
from .attach import frame, set_winsize
from .routes import hijack, json_response, no_content, route


def _exec(req) -> dict:
    with req.engine.lock:
        rec = req.engine.execs.get(req.params["id"])
    if rec is None:
        raise NotFoundError(f"No such exec instance: {req.params['id']}", op="exec")
    return rec


@route("POST", "/containers/{id}/exec")
def create(req):
    body = req.json(default={}) or {}
    if not isinstance(body, dict):
        raise UsageError("the exec config must be a JSON object", op="exec")
    if body.get("Privileged"):
        raise UsageError("Privileged exec is not supported by minicontainer", op="exec")
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd:
        raise UsageError("no exec command specified", op="exec")
    rt = req.engine.runtime
    c = rt.refresh(rt.containers.get(req.params["id"]))
    if c.state is not Status.RUNNING:
        raise StateError(f"container {c.id} is not running" if c.state is not Status.PAUSED
                         else f"container {c.id} is paused, unpause the container before exec", op="exec")
    eid = secrets.token_hex(32)
    rec = {"ID": eid, "ContainerID": c.id, "Cmd": list(cmd), "Env": list(body.get("Env") or []),
           "WorkingDir": body.get("WorkingDir") or None, "User": body.get("User") or None,
           "Tty": bool(body.get("Tty")), "AttachStdin": bool(body.get("AttachStdin")),
           "AttachStdout": bool(body.get("AttachStdout")), "AttachStderr": bool(body.get("AttachStderr")),
           "Running": False, "ExitCode": None, "Pid": 0, "started": False, "pty": None}
    with req.engine.lock:
        req.engine.execs[eid] = rec
    return json_response({"Id": eid}, 201)


def _run(engine, rec: dict, stdio: dict, detach: bool) -> int:
    def on_pty(master):
        rec["pty"] = master
        if rec.get("size"):               # a resize that came before the terminal existed
            set_winsize(master, *rec["size"])
    try:
        return _exec_in(engine, rec, stdio, detach, on_pty)
    finally:
        rec["pty"] = None


def _exec_in(engine, rec, stdio, detach, on_pty) -> int:
    return engine.runtime.container(rec["ContainerID"]).exec(
        rec["Cmd"], env=rec["Env"], workdir=rec["WorkingDir"], user=rec["User"], tty=rec["Tty"],
        interactive=rec["AttachStdin"], detach=detach, stdio=stdio, on_pty=on_pty,
        on_pid=lambda pid: rec.update(Pid=pid))


@route("POST", "/exec/{id}/start")
def start(req):
    rec = _exec(req)
    body = req.json(default={}) or {}
    with req.engine.lock:
        if rec["started"]:
            raise StateError(f"exec {rec['ID'][:12]} has already been started", op="exec")
        rec["started"] = True
    if body.get("Tty") is not None:
        rec["Tty"] = bool(body["Tty"])
    if body.get("Detach"):
        rec["Running"] = True
        try:
            _run(req.engine, rec, {}, True)
        finally:
            rec["Running"] = False
        return no_content(200)
    wanted = {1: rec["AttachStdout"], 2: rec["AttachStderr"]}

    def attached(conn):
        sock = conn.fileno()
        ours, pipes = [], None
        if rec["Tty"]:
            stdio = {0: sock, 1: sock}
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            pipes, ours = (out_r, err_r), [out_w, err_w]
            stdio = {1: out_w, 2: err_w} | ({0: sock} if rec["AttachStdin"] else {})

        def run():
            rec["Running"] = True
            try:
                rec["ExitCode"] = _run(req.engine, rec, stdio, False)
            except Exception as err:   # the command could not be started: Docker's exit codes
                rec["ExitCode"] = getattr(err, "exit_code", 126)
                message = f"{err}\n".encode()
                conn.write(message if rec["Tty"] else frame(2, message))
            finally:
                rec["Running"] = False
                for fd in ours:
                    os.close(fd)
        worker = threading.Thread(target=run, name=f"exec-{rec['ID'][:12]}", daemon=True)
        worker.start()
        if pipes is not None:
            _pump(conn, pipes, wanted)
        worker.join()
    return hijack(attached, "application/vnd.docker.raw-stream" if rec["Tty"]
                  else "application/vnd.docker.multiplexed-stream")


def _pump(conn, pipes: tuple[int, int], wanted: dict) -> None:
    """Frame an exec's stdout and stderr (stream 1 and 2) until both its pipes are closed."""
    streams = {pipes[0]: 1, pipes[1]: 2}
    try:
        while streams:
            ready, _, _ = select.select(list(streams), [], [])
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    del streams[fd]
                elif wanted.get(streams[fd]):
                    conn.write(frame(streams[fd], data))
    finally:
        for fd in pipes:
            os.close(fd)


@route("GET", "/exec/{id}/json")
def inspect(req):
    rec = _exec(req)
    return json_response({
        "ID": rec["ID"], "ContainerID": rec["ContainerID"], "Running": rec["Running"],
        "ExitCode": rec["ExitCode"], "Pid": rec["Pid"], "CanRemove": False, "DetachKeys": "",
        "OpenStdin": rec["AttachStdin"], "OpenStdout": rec["AttachStdout"], "OpenStderr": rec["AttachStderr"],
        "ProcessConfig": {"entrypoint": rec["Cmd"][0], "arguments": rec["Cmd"][1:], "tty": rec["Tty"],
                          "privileged": False, "user": rec["User"] or ""}})


@route("POST", "/exec/{id}/resize")
def resize(req):
    rec = _exec(req)
    size = (req.int_arg("h", 0), req.int_arg("w", 0))
    if not rec["Tty"]:
        raise StateError(f"exec {rec['ID'][:12]} has no terminal", op="resize")
    rec["size"] = size            # the docker CLI resizes right after the start: kept for the pty to come
    if rec["pty"] is not None:
        set_winsize(rec["pty"], *size)
    return no_content(200)

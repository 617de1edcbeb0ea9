"""The commands a client sends to an engine (see :mod:`.remote` for the transport).

Each command parses the same flags as its daemonless twin (:mod:`.flags`, argparse) and
becomes the requests the docker CLI would make for it; what the engine answers is printed
as the daemonless command prints it. Exit statuses are Docker's: the container's own, 125
when the engine refused, 126/127 when the command could not be run.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time

from ..errors import UsageError
from .remote import API, SERVED, Client, EngineError, _ref, demux, error_message, host_socket

NOT_SERVED = ("explain", "dry_run")     # run flags that need the runtime in this process


def _int(text, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"invalid {flag} {text!r}: expected an integer", op="parse") from None


def _env(items: list[str]) -> list[str]:
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:        # -e KEY alone copies it from here, as docker run does
            out.append(f"{item}={os.environ[item]}")
    return out


def _ports(specs: list[str]) -> tuple[dict, dict]:
    """``-p [IP:]HOSTPORT:PORT[/PROTO]`` -> ExposedPorts, PortBindings."""
    exposed, bindings = {}, {}
    for spec in specs:
        addr, _, proto = spec.partition("/")
        parts = addr.rsplit(":", 2) if addr.count(":") <= 2 else None
        if not parts or not parts[-1].isdigit():
            raise UsageError(f"invalid publish spec {spec!r}: expected [HOSTIP:]HOSTPORT:PORT[/PROTO]", op="parse")
        key = f"{parts[-1]}/{proto or 'tcp'}"
        host_ip, host_port = (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0] if len(parts) == 2 else "")
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return exposed, bindings


def create_body(args) -> dict:
    """The body of ``POST /containers/create`` for ``run``/``create`` flags (docker-run(1) -> moby API)."""
    from ..units import parse_size
    for flag in NOT_SERVED:
        if getattr(args, flag, False):
            raise UsageError(f"--{flag.replace('_', '-')} needs the runtime in this process: run it without "
                             "-H/MINICONTAINER_HOST (an engine shows its kernel steps with --trace)", op="run")
    exposed, bindings = _ports(args.publish)
    binds = [v for v in args.volume if ":" in v]
    hc = {"AutoRemove": args.rm, "Binds": binds, "PortBindings": bindings, "PublishAllPorts": args.publish_all,
          "Init": args.init, "CapAdd": args.cap_add, "CapDrop": args.cap_drop, "Privileged": args.privileged,
          "SecurityOpt": args.security_opt, "ReadonlyRootfs": args.read_only,
          "Tmpfs": {t.split(":", 1)[0]: t.partition(":")[2] for t in args.tmpfs}}
    if args.network:
        hc["NetworkMode"] = args.network
    if args.userns == "private":
        hc["UsernsMode"] = "private"
    if args.memory:
        hc["Memory"] = parse_size(args.memory, "memory limit")
    if args.memory_swap:
        hc["MemorySwap"] = -1 if args.memory_swap.strip() == "-1" else parse_size(args.memory_swap, "memory+swap")
    if args.cpus:
        try:
            hc["NanoCpus"] = int(float(args.cpus) * 1e9)
        except ValueError:
            raise UsageError(f"invalid --cpus {args.cpus!r}: expected a number such as 0.5", op="parse") from None
    if args.cpu_shares:
        hc["CpuShares"] = _int(args.cpu_shares, "--cpu-shares")
    if args.pids_limit:
        hc["PidsLimit"] = _int(args.pids_limit, "--pids-limit")
    if args.cpuset_cpus:
        hc["CpusetCpus"] = args.cpuset_cpus
    body = {"Image": args.image, "Env": _env(args.env), "Tty": args.tty, "OpenStdin": args.interactive,
            "AttachStdin": args.interactive, "AttachStdout": True, "AttachStderr": True,
            "StdinOnce": args.interactive, "ExposedPorts": exposed,
            "Volumes": {v: {} for v in args.volume if ":" not in v}, "HostConfig": hc}
    if args.command:
        body["Cmd"] = args.command
    for key, value in (("WorkingDir", args.workdir), ("Hostname", args.hostname), ("User", args.user)):
        if value:
            body[key] = value
    return body


def _create(client: Client, args) -> str:
    body = create_body(args)
    query = {"name": args.name} if args.name else None
    try:
        return client.call("POST", "/containers/create", query, body, op="create")["Id"]
    except EngineError as err:
        if err.status != 404:
            raise
    print(f"Unable to find image '{args.image}' locally", file=sys.stderr)   # as docker run: pull, then again
    resp = client.send("POST", "/images/create", {"fromImage": args.image})      # the name may carry its tag
    for item in resp.lines():
        if item.get("error") or item.get("message"):
            resp.close()
            raise EngineError(500, item.get("error") or item["message"], "pull")
        if item.get("status") and not item.get("progressDetail"):
            print(f"{item.get('id', '') + ': ' if item.get('id') else ''}{item['status']}", file=sys.stderr)
    resp.close()
    return client.call("POST", "/containers/create", query, body, op="create")["Id"]


def start_code(err: EngineError) -> int:
    """The exit status docker run gives a start that failed, read from the engine's message."""
    text = str(err).lower()
    if "not found" in text or "no such file" in text:
        return 127
    if "permission denied" in text or "not executable" in text:
        return 126
    return 125


def _forward_stdin(sock) -> None:
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sock.shutdown(socket.SHUT_WR)       # the container reads end-of-file
        except OSError:
            pass


def _attached(client: Client, cid: str, args) -> int:
    query = {"stream": 1, "stdout": 1, "stderr": 1, "stdin": int(args.interactive)}
    attach = client.send("POST", f"/containers/{cid}/attach", query, upgrade=True)
    if attach.status >= 400:
        raise EngineError(attach.status, error_message(attach.read_all()), "attach")
    wait = client.send("POST", f"/containers/{cid}/wait", {"condition": "removed" if args.rm else "next-exit"})
    if wait.status >= 400:
        attach.close()
        raise EngineError(wait.status, error_message(wait.read_all()), "wait")
    saved = None
    try:
        try:
            client.call("POST", f"/containers/{cid}/start", op="start")
        except EngineError as err:
            print(f"minicontainer: {err}", file=sys.stderr)
            return start_code(err)
        if args.tty and os.isatty(0):
            import termios
            import tty
            saved = termios.tcgetattr(0)
            tty.setraw(0)
            cols, rows = os.get_terminal_size(0)
            client.call("POST", f"/containers/{cid}/resize", {"h": rows, "w": cols}, op="resize")
        if args.interactive:
            threading.Thread(target=_forward_stdin, args=(attach.sock,), daemon=True).start()
        if args.tty:
            for data in attach.raw():
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
        else:
            demux(attach.raw())
        status = next(wait.lines(), {})
        return int(status.get("StatusCode", 125))
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        attach.close()
        wait.close()


def run(client: Client, args) -> int:
    cid = _create(client, args)
    if args.detach:
        client.call("POST", f"/containers/{cid}/start", op="start")
        print(cid)
        return 0
    return _attached(client, cid, args)


def create(client: Client, args) -> int:
    print(_create(client, args))
    return 0


def _each(client: Client, refs: list[str], method: str, suffix: str, query: dict | None, op: str) -> int:
    """One request per container, through the CLI's :func:`~minicontainer.cli.for_each`: its name
    printed on success, one line per failure (exit 1)."""
    from . import for_each
    return for_each(refs, lambda ref: client.call(method, f"/containers/{_ref(ref)}{suffix}", query, op=op))


def start(client: Client, args) -> int:
    return _each(client, args.containers, "POST", "/start", None, "start")


def stop(client: Client, args) -> int:
    return _each(client, args.containers, "POST", "/stop", {"t": args.time} if args.time is not None else None,
                 "stop")


def kill(client: Client, args) -> int:
    return _each(client, args.containers, "POST", "/kill", {"signal": args.signal}, "kill")


def rm(client: Client, args) -> int:
    return _each(client, args.containers, "DELETE", "", {"force": int(args.force), "v": int(args.volumes)}, "rm")


def ps(client: Client, args) -> int:
    from ..containerlist import ago
    from .formats import PS_FIELDS, PS_TABLE, listing_lines
    now = time.time()
    rows = []
    for c in client.call("GET", "/containers/json", {"all": int(args.all)}, op="ps"):
        cid = c["Id"] if args.no_trunc else c["Id"][:12]
        if args.quiet:
            print(cid)
            continue
        cmd = c.get("Command", "")
        if not args.no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        ports = ", ".join(f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}" if p.get("PublicPort")
                          else f"{p['PrivatePort']}/{p['Type']}" for p in c.get("Ports") or [])
        rows.append({"ID": cid, "Image": c.get("Image", ""), "Command": f'"{cmd}"',
                     "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(c.get("Created", now))),
                     "RunningFor": f"{ago(now - c.get('Created', now))} ago", "Status": c.get("Status", ""),
                     "Ports": ports, "Names": ",".join(n.lstrip("/") for n in c.get("Names") or []),
                     "State": c.get("State", ""), "Mounts": "", "Networks": ""})
    if not args.quiet:
        for line in listing_lines(args.format, rows, PS_FIELDS, PS_TABLE, "*formatter.ContainerContext"):
            print(line)
    return 0


def logs(client: Client, args) -> int:
    info = client.call("GET", f"/containers/{_ref(args.container)}/json", op="logs")
    query = {"stdout": 1, "stderr": 1, "follow": int(args.follow), "timestamps": int(args.timestamps)}
    if args.tail is not None:
        query["tail"] = args.tail
    resp = client.send("GET", f"/containers/{_ref(args.container)}/logs", query)
    try:
        if resp.status >= 400:
            raise EngineError(resp.status, error_message(resp.read_all()), "logs")
        if info.get("Config", {}).get("Tty"):
            for data in resp.body():
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
        else:
            demux(resp.body())
    finally:
        resp.close()
    return 0


def inspect(client: Client, args) -> int:
    from .formats import inspect_lines
    docs, code = [], 0
    for ref in args.objects:
        try:
            docs.append(client.call("GET", f"/containers/{_ref(ref)}/json", op="inspect"))
        except EngineError as err:
            if err.status != 404:
                raise
            try:
                docs.append(client.call("GET", f"/images/{_ref(ref)}/json", op="inspect"))
            except EngineError:
                print(f"minicontainer: no such object: {ref}", file=sys.stderr)
                code = 1
    for line in inspect_lines(docs, args.format):
        print(line)
    return code


def images(client: Client, args) -> int:
    from ..containerlist import ago
    from .formats import align
    now = time.time()
    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for img in client.call("GET", "/images/json", op="images"):
        for tag in img.get("RepoTags") or ["<none>:<none>"]:
            repo, _, name = tag.rpartition(":")
            iid = img["Id"].split(":", 1)[-1][:12]
            if args.quiet:
                print(iid)
                continue
            rows.append((repo, name, iid, f"{ago(now - img.get('Created', now))} ago",
                         f"{img.get('Size', 0) / 1e6:.1f}MB"))
    if not args.quiet:
        for line in align(["\t".join(r) for r in rows]):
            print(line)
    return 0


def version(client: Client, args) -> int:
    from .. import __version__
    server = client.call("GET", "/version", op="version")
    print(f"Client: minicontainer {__version__} (API {API.lstrip('/v')})")
    print(f"Server: {server.get('Version')} (API {server.get('ApiVersion')}, minimum {server.get('MinAPIVersion')}, "
          f"{server.get('Os')}/{server.get('Arch')}, kernel {server.get('KernelVersion')})")
    return 0


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    """The flags of each served command: the same spellings as the daemonless commands."""
    if command in ("run", "create"):
        from .flags import add_run_arguments
        add_run_arguments(p)
    elif command == "start":
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif command == "ps":
        p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running only)")
        p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
        p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
        p.add_argument("--format", default="table", help="'table', 'json', or a Go template")
    elif command == "logs":
        p.add_argument("-f", "--follow", action="store_true", help="follow the output")
        p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
        p.add_argument("-n", "--tail", help="number of lines from the end (default all)")
        p.add_argument("container", metavar="CONTAINER")
    elif command == "stop":
        p.add_argument("-t", "--time", type=int, help="seconds to wait before SIGKILL")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif command == "kill":
        p.add_argument("-s", "--signal", default="KILL", help="the signal to send (default KILL)")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif command == "rm":
        p.add_argument("-f", "--force", action="store_true", help="kill and remove a running container")
        p.add_argument("-v", "--volumes", action="store_true", help="also remove its anonymous volumes")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif command == "inspect":
        p.add_argument("-f", "--format", help="a Go template, or 'json'")
        p.add_argument("objects", nargs="+", metavar="NAME|ID")
    elif command == "images":
        p.add_argument("-q", "--quiet", action="store_true", help="only display image IDs")


def main(host: str, command: str, argv: list[str]) -> int:
    """``minicontainer -H HOST COMMAND ARGS``: the command's requests to the engine at HOST."""
    from . import COMMANDS
    if command not in COMMANDS and command not in SERVED:
        print(f"minicontainer: unknown command {command!r} (see 'minicontainer --help')", file=sys.stderr)
        return 125
    if command not in SERVED:
        print(f"minicontainer: {command!r} does not go through an engine yet (served: {', '.join(SERVED)}); "
              "run it without -H/MINICONTAINER_HOST", file=sys.stderr)
        return 125
    parser = argparse.ArgumentParser(prog=f"minicontainer -H {host} {command}")
    add_arguments(command, parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # argparse printed the message
        return 0 if exc.code == 0 else 125
    return globals()[command](Client(host_socket(host)), args)

"""The verbs of ``minicontainer-runc`` that are more than one call: run, ps, list, spec, features."""

from __future__ import annotations

import json
import os
import signal
import sys as _sys
from pathlib import Path

from .. import log
from ..errors import ConflictError, MiniContainerError, NotFoundError
from ..oci import OCI_VERSION
from ..oci.build import default_mounts
from ..oci.spec import Capabilities, Linux, Namespace, Process, Rlimit, Root, Spec
from ..oci.validate import NAMESPACE_TYPES
from ..security.defaults import MASKED_PATHS, READONLY_PATHS


def run(store, args) -> int:
    """create + start in one; in the foreground, wait for the process and delete the container."""
    rec = store.create(args.id, args.bundle, pid_file=args.pid_file, console_socket=args.console_socket,
                       start_now=True)
    if args.detach:
        return 0
    from ..kernel import default, send_signal
    sys = default()
    previous = {s: signal.signal(s, lambda n, _f: send_signal(sys, rec.pid, n, "run: forward to the process"))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _, status = os.waitpid(rec.pid, 0)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    store.container(args.id).destroy(force=True)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def exec_(store, args) -> int:
    """exec: the process of --process (or of the command line, over the container's own)."""
    from ..kernel import default
    from ..oci.spec import User
    from .exec import process_from, run_exec
    proc = process_from(args.process, args.command)
    if not args.process:
        rec_config = Spec.from_json((store.dir(args.id) / "config.json").read_text())
        base = rec_config.process
        proc.env = list(base.env) + list(args.env)
        proc.cwd = args.cwd or base.cwd
        proc.terminal = args.tty
        proc.no_new_privileges = base.no_new_privileges or args.no_new_privs
        if args.user:
            uid, _, gid = args.user.partition(":")
            proc.user = User(uid=int(uid), gid=int(gid or 0))
        else:
            proc.user = base.user
    return run_exec(store, args.id, proc, detach=args.detach, pid_file=args.pid_file,
                    console_socket=args.console_socket, sys=default())


def read_json_arg(path: str):
    """The JSON document in ``path`` (``-``: standard input), UsageError naming it otherwise."""
    from ..errors import UsageError
    try:
        text = _sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {os.strerror(err.errno).lower()}", op="update") from err
    except ValueError as err:
        raise UsageError(f"{path}: invalid JSON: {str(err).lower()}", op="update") from err


def ps(store, args) -> None:
    pids = store.container(args.id).processes()
    if args.format == "json":
        print(json.dumps(pids))
        return
    print(f"{'PID':>7} CMD")
    for pid in pids:
        try:
            cmd = (store.proc_root / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        print(f"{pid:>7} {cmd}")


def list_(store, args) -> None:
    states = []
    for cid in store.ids():
        try:
            states.append(store.state(cid))
        except NotFoundError as err:        # removed meanwhile
            log.swallowed("runc", "list", err, cid)
        except MiniContainerError as err:   # as runc: say which one could not be read, list the rest
            print(f"load container {cid}: {err}", file=_sys.stderr)
    if args.format == "json":
        print(json.dumps(states))
    elif args.quiet:
        for st in states:
            print(st["id"])
    else:
        print(f"{'ID':<20} {'PID':>7} {'STATUS':<10} BUNDLE")
        for st in states:
            print(f"{st['id']:<20} {st['pid']:>7} {st['status']:<10} {st['bundle']}")


def default_spec() -> Spec:
    """What ``runc spec`` writes: ``sh`` on a terminal, a read-only ``rootfs``, the usual namespaces."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    process = Process(args=["sh"], env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                        "TERM=xterm"], cwd="/", terminal=True,
                      capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps),
                      rlimits=[Rlimit("RLIMIT_NOFILE", 1024, 1024)], no_new_privileges=True)
    linux = Linux(namespaces=[Namespace(t) for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
                  masked_paths=list(MASKED_PATHS), readonly_paths=list(READONLY_PATHS))
    return Spec(oci_version=OCI_VERSION, process=process, root=Root("rootfs", True), hostname="minicontainer",
                mounts=default_mounts(readonly_proc_sys=False), linux=linux)


def spec(args) -> None:
    path = Path(args.bundle) / "config.json"
    if path.exists():
        raise ConflictError("file config.json exists: remove it first", op="spec", path=path)
    path.write_text(default_spec().to_json())


def features() -> dict:
    """runtime-features.md: what this runtime implements (read by engines that ask)."""
    from ..oci.mounts import FLAGS, PROPAGATION
    from ..security import caps
    from ..security.profile import ACTIONS, KNOWN_ARCHES, OPERATORS
    return {"ociVersionMin": "1.0.0", "ociVersionMax": OCI_VERSION, "hooks": [],
            "mountOptions": sorted([*FLAGS, *PROPAGATION, "bind", "rbind"]),
            "linux": {"namespaces": list(NAMESPACE_TYPES), "capabilities": sorted(caps.NUMBERS),
                      "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
                      "seccomp": {"enabled": True, "actions": sorted(ACTIONS), "operators": list(OPERATORS),
                                  "archs": sorted(KNOWN_ARCHES)},
                      "apparmor": {"enabled": False}, "selinux": {"enabled": False}},
            "annotations": {"org.minicontainer.runtime": "minicontainer"}}

"""One container of ``minicontainer-runc``: a bundle executed by the runtime-spec's lifecycle.

The runtime-spec's runtime.md defines the states and which operation is allowed in each::

    create ──▶ created ──start──▶ running ──(the process exits)──▶ stopped ──delete──▶ (gone)
                  │                   │
                  └── kill ───────────┴── kill: signals the container's process
                  delete --force: kills first; delete of a created or running one is an error

``create`` builds everything (namespaces, root, cgroup) and stops PID 1 right before
execve(2), blocked opening the *exec fifo* for writing; ``start`` opens the fifo for reading,
which lets it go. The fifo's existence is how ``state`` tells created from running, as in runc.

The record lives in ``<root>/<id>/state.json`` (``--root``, else ``$MINICONTAINER_RUNC_ROOT``, else
/run/minicontainer-runc) with a copy of the config.json it was created from.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..files import discard_tree
from .. import paths
from ..errors import ConflictError, MiniContainerError, NotFoundError, StateError, UsageError
from ..oci import OCI_VERSION, Spec, validate
from ..records import read_json, write_atomic, write_json
from ..runtime.processes import alive, start_ticks
from . import devices

ID = re.compile(r"^[\w+\-.]+$")
FIFO = "exec.fifo"


@dataclass
class Record:
    """What ``state`` reports, plus what we need to find the container again."""

    id: str
    bundle: str
    pid: int = 0
    pid_start: int = 0
    created: float = 0.0
    cgroup: str = ""
    # where create put it, per controller ("devices" too): a relative cgroupsPath is placed
    # under the *caller's* cgroup (runc's rule), and conmon or a containerd shim calls create
    # from another cgroup than the engine that later calls delete, so the paths are kept
    cgroup_dirs: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)




class Store:
    """The containers under one ``--root``."""

    def __init__(self, root=None, *, proc_root: Path = paths.PROC_ROOT, cgroup_root: Path = paths.CGROUP_ROOT):
        self.root = Path(root or paths.runc_root()).absolute()
        self.proc_root, self.cgroup_root = Path(proc_root), Path(cgroup_root)

    def dir(self, cid: str) -> Path:
        if not ID.match(cid or "") or cid in (".", ".."):
            raise UsageError(f"invalid container id {cid!r}: only letters, digits and _+-. are allowed", op="id")
        return self.root / cid

    def load(self, cid: str) -> Record:
        data = read_json(self.dir(cid) / "state.json", "unreadable state", op="state")
        if data is None:
            raise NotFoundError(f"container {cid!r} does not exist", op="state")
        return Record(**data)

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "state.json").exists())

    def status(self, rec: Record) -> str:
        if rec.pid and alive(self.proc_root, rec.pid, rec.pid_start):
            if (self.dir(rec.id) / FIFO).exists():
                return "created"
            return "paused" if self._frozen(rec) else "running"
        return "stopped"

    def state(self, cid: str) -> dict:
        """The runtime-spec's state JSON (runtime.md "State")."""
        rec = self.load(cid)
        status = self.status(rec)
        return {"ociVersion": OCI_VERSION, "id": rec.id, "status": status,
                "pid": rec.pid if status != "stopped" else 0, "bundle": rec.bundle,
                "rootfs": rec.annotations.get("__rootfs", ""), "created": _rfc3339(rec.created),
                "owner": "", "annotations": {k: v for k, v in rec.annotations.items() if not k.startswith("__")}}

    # -- cgroups ---------------------------------------------------------------
    def cgroup(self, rec_or_name, sys):
        """The container's cgroup: at the directories create recorded, or placed from the caller."""
        from ..cgroups import detect, manager_for_dirs, new_manager
        layout = detect(self.cgroup_root, self.proc_root)
        if isinstance(rec_or_name, Record) and rec_or_name.cgroup_dirs:
            rec = rec_or_name
            depth = len(rec.cgroup.strip("/").split("/"))
            dirs = {c: Path(p) for c, p in rec.cgroup_dirs.items() if c != "devices"}
            return manager_for_dirs(layout, rec.cgroup, dirs, {p: p.parents[depth - 1] for p in dirs.values()}, sys)
        name = rec_or_name.cgroup if isinstance(rec_or_name, Record) else rec_or_name
        return new_manager(layout, name, sys, proc_root=self.proc_root)

    def _frozen(self, rec: Record) -> bool:
        return (self.dir(rec.id) / "paused").exists()

    # -- verbs -----------------------------------------------------------------
    def create(self, cid: str, bundle: str, *, pid_file: str | None = None, console_socket: str | None = None,
               start_now: bool = False, sys=None):
        """Check the bundle, record the container, start PID 1 and leave it at the exec fifo."""
        from ..kernel import default
        from ..oci.launch import launch_spec, limits
        from ..runtime import launcher
        sys = sys or default()
        cdir = self.dir(cid)
        bundle = os.path.abspath(bundle)
        try:
            text = Path(bundle, "config.json").read_text()
        except FileNotFoundError:
            raise UsageError(f"no config.json in the bundle {bundle}", op="create") from None
        except OSError as err:
            raise UsageError(f"cannot read config.json: {os.strerror(err.errno).lower()}", op="create",
                             path=bundle) from err
        spec = Spec.from_json(text)
        validate(spec, bundle)
        if spec.process.terminal and not console_socket:
            raise UsageError("process.terminal is true: --console-socket is required", op="create")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        try:
            cdir.mkdir(mode=0o711)
        except FileExistsError:
            raise ConflictError(f"container with id {cid!r} already exists", op="create") from None
        cgroup = None
        try:
            name = (spec.linux.cgroups_path or f"minicontainer-runc/{cid}").strip("/")
            rec = Record(id=cid, bundle=bundle, created=time.time(), cgroup=name,
                         annotations=dict(spec.annotations))
            launch = launch_spec(spec, bundle, proc_root=self.proc_root)
            rec.annotations["__rootfs"] = launch.plan.root
            cgroup = self.cgroup(name, sys)
            cgroup.create()
            lim = limits(spec)
            if lim is not None:
                cgroup.apply(lim)
            launch.cgroup_procs = [str(p) for p in cgroup.procs_files()]
            device_procs = devices.apply(self, name, spec, sys)
            launch.cgroup_procs += device_procs
            rec.cgroup_dirs = {c: str(p) for c, p in cgroup.dirs.items()}
            if device_procs:
                rec.cgroup_dirs["devices"] = str(Path(device_procs[0]).parent)
            launch.direct, launch.stdio = True, {0: 0, 1: 1, 2: 2}
            launch.interactive = True
            if not start_now:
                os.mkfifo(cdir / FIFO, 0o622)
                launch.exec_fifo = str(cdir / FIFO)
            started = launcher.start(sys, launch)
            rec.pid, rec.pid_start = started.pid, start_ticks(self.proc_root, started.pid)
            if started.pty_master is not None:
                send_console(console_socket, started.pty_master)
            # the config exec applies, whatever becomes of the bundle; then the record
            write_json(cdir / "config.json", spec.to_dict(), "cannot write config.json", op="create")
            write_json(cdir / "state.json", asdict(rec), "cannot write state", op="create")
            if pid_file:
                _write_pid(pid_file, rec.pid)
            return rec
        except BaseException:
            if cgroup is not None:
                _quiet(cgroup.kill_all)
                _quiet(cgroup.remove)
            discard_tree(cdir, "runc")
            raise

    def container(self, cid: str) -> "RuncContainer":
        """The verbs on container ``cid`` (NotFoundError when there is none)."""
        return RuncContainer(self, self.load(cid))


class RuncContainer:
    """One container of minicontainer-runc and its verbs, named as those of the lab's
    :class:`~minicontainer.runtime.lifecycle.ContainerHandle` (libcontainer's Container
    interface): start, signal, pause, resume, update, processes, state, destroy; ``exec`` is
    :func:`minicontainer.runc.exec.run_exec`. The :class:`Store` creates and finds them, as
    libcontainer's factory does."""

    def __init__(self, store: Store, rec: Record):
        self.store, self.rec, self.id = store, rec, rec.id

    def status(self) -> str:
        return self.store.status(self.rec)

    def state(self) -> dict:
        """The runtime-spec's state JSON (runtime.md "State")."""
        return self.store.state(self.id)

    def start(self) -> None:
        """Let PID 1, waiting at the exec fifo since create, go on to the user's process."""
        rec, status = self.rec, self.status()
        if status != "created":
            raise StateError(f"cannot start a container that has {status}" if status == "stopped"
                             else f"cannot start an already {status} container", op="start")
        fifo = self.store.dir(self.id) / FIFO
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # PID 1's open for writing returns now
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if os.read(fd, 1):
                        break
                except BlockingIOError:
                    pass
                if time.monotonic() > deadline or not alive(self.store.proc_root, rec.pid, rec.pid_start):
                    raise StateError("the container's process exited before it could start", op="start")
                time.sleep(0.001)
        finally:
            os.close(fd)
            fifo.unlink(missing_ok=True)

    def signal(self, signum: int, *, all_processes: bool = False, sys=None) -> None:
        """``kill ID SIGNAL`` (``--all``: every process of its cgroup)."""
        from ..kernel import default
        sys = sys or default()
        if self.status() == "stopped":
            raise StateError("container not running", op="kill")
        if all_processes:
            for pid in self.store.cgroup(self.rec, sys).pids():
                _quiet(sys.kill, pid, signum, "kill --all: every process of the container's cgroup")
            return
        sys.kill(self.rec.pid, signum, "the signal for the container's process")

    def destroy(self, *, force: bool = False, sys=None) -> None:
        """``delete``: its cgroups and state directory (``--force``: killing it first)."""
        from ..kernel import default
        sys = sys or default()
        rec, status = self.rec, self.status()
        if status in ("running", "paused") and not force:
            raise StateError(f"cannot delete container {self.id} that is not stopped: {status}", op="delete")
        cgroup = self.store.cgroup(rec, sys)
        if status != "stopped":
            if status == "paused":
                _quiet(cgroup.thaw)
            _quiet(sys.kill, rec.pid, signal.SIGKILL, "delete: the container's process")
            _quiet(cgroup.kill_all)
            deadline = time.monotonic() + 5
            while alive(self.store.proc_root, rec.pid, rec.pid_start) and time.monotonic() < deadline:
                time.sleep(0.005)
        _quiet(cgroup.remove)
        _quiet(devices.remove, self.store, rec.cgroup, sys, rec.cgroup_dirs.get("devices"))
        discard_tree(self.store.dir(self.id), "runc", "remove the state directory")

    def pause(self, sys=None) -> None:
        self._set_frozen(True, sys)

    def resume(self, sys=None) -> None:
        self._set_frozen(False, sys)

    def _set_frozen(self, frozen: bool, sys=None) -> None:
        from ..kernel import default
        sys = sys or default()
        status = self.status()
        if frozen and status != "running":
            raise StateError(f"container not running: {status}", op="pause")
        if not frozen and status != "paused":
            raise StateError(f"container not paused: {status}", op="resume")
        cgroup = self.store.cgroup(self.rec, sys)
        if frozen:
            cgroup.freeze()
            (self.store.dir(self.id) / "paused").touch()
        else:
            cgroup.thaw()
            (self.store.dir(self.id) / "paused").unlink(missing_ok=True)

    def update(self, resources: dict, sys=None) -> None:
        """``update --resources FILE``: new limits for a live container (a linux.resources object)."""
        from ..kernel import default
        from ..oci.launch import resource_limits
        from ..oci.spec import Resources, load
        if self.status() == "stopped":
            raise StateError("container not running", op="update")
        res = load(Resources, resources, "resources")
        if res.devices:
            raise UsageError("update: changing device rules is not supported by minicontainer", op="update")
        limits = resource_limits(res)
        if limits is not None:
            self.store.cgroup(self.rec, sys or default()).apply(limits)

    def processes(self, sys=None) -> list[int]:
        """The host PIDs of its cgroup (``ps``)."""
        from ..kernel import default
        return sorted(self.store.cgroup(self.rec, sys or default()).pids())


def send_console(path: str, master: int) -> None:
    """Hand the terminal's master side to whoever listens on ``--console-socket`` (SCM_RIGHTS), as runc does."""
    import socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            socket.send_fds(sock, [b"/dev/ptmx"], [master])
    except OSError as err:
        raise MiniContainerError(f"console socket: {os.strerror(err.errno).lower()}", op="create",
                                 path=path) from err
    finally:
        os.close(master)


def _write_pid(path: str, pid: int) -> None:
    write_atomic(path, str(pid).encode(), "cannot write the pid file", op="create", durable=False,
                 make_parent=False)


def _quiet(fn, *args):
    """Run a cleanup step whose failure must not stop the rest (the debug log records it)."""
    try:
        return fn(*args)
    except (MiniContainerError, OSError) as err:
        from .. import log
        log.swallowed("runc", getattr(fn, "__name__", "cleanup"), err)
        return None


def _rfc3339(t: float) -> str:
    frac = f"{t % 1:.9f}"[1:]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + frac + "Z"

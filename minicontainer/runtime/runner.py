"""The runtime's public API: create, run, wait for and remove containers.

``Runtime(state_root).run(RunOptions(image="busybox", command=["echo", "hi"]))`` is what
``minicontainer run busybox echo hi`` does, and what the notebooks call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import events, paths
from ..errors import MiniContainerError, NotFoundError
from ..kernel import Step, Syscalls
from . import launcher
from .containers import Container, ContainerStore
from .options import RunOptions, command_for
from .processes import SignalProxy, alive, exit_code, send_signal, start_ticks, wait_for_exit
from .state import Status, require



@dataclass
class RunResult:
    """How a run ended: Docker's exit code, the container, and the kernel steps taken."""

    exit_code: int
    container: Container | None
    steps: list[Step] = field(default_factory=list)
    oom_killed: bool = False
    stdout: str | None = None        # filled in by run_captured()
    stderr: str | None = None


class Runtime:
    """Containers of one state root. ``syscalls`` defaults to the real kernel."""

    def __init__(self, state_root=None, syscalls: Syscalls | None = None, *,
                 proc_root: Path = paths.PROC_ROOT, cgroup_root: Path = paths.CGROUP_ROOT):
        self.root = paths.state_root(state_root)
        self._sys = syscalls
        self.proc_root = Path(proc_root)
        self.cgroup_root = Path(cgroup_root)
        self.containers = ContainerStore(self.root)

    @property
    def sys(self) -> Syscalls:
        if self._sys is None:
            from ..kernel import default
            self._sys = default()
        return self._sys

    def images(self):
        from ..images.store import ImageStore
        return ImageStore(self.root)

    def resolve_image(self, ref: str):
        """The image for ``ref``; ``busybox`` is made from the host's busybox-static on first use."""
        from ..errors import NotFoundError
        store = self.images()
        try:
            return store.resolve(ref)
        except NotFoundError:
            if ref.split(":")[0] == "busybox" and ref in ("busybox", "busybox:latest"):
                return store.ensure_busybox()
            raise

    # -- pieces --------------------------------------------------------------
    def cgroup_manager(self, cid: str, sys: Syscalls):
        """The manager of container ``cid``'s cgroup (the detected backend; a no-op one rootless):
        what top, stats, update, pause and the reaper read and write, through ``sys``."""
        if self._rootless():
            from ..security.rootless import NoCgroup
            return NoCgroup()
        from ..cgroups import detect, new_manager
        layout = detect(self.cgroup_root, self.proc_root)
        return new_manager(layout, cid, sys, proc_root=self.proc_root)

    def _etc_files(self, c: Container, spec) -> None:
        """The files config.json binds over the image's /etc/hosts, /etc/hostname (and
        /etc/resolv.conf with a network): written now, and rewritten in place by the network
        code once it is wired."""
        hostname = spec.hostname or c.short_id
        hosts = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                 f"127.0.1.1\t{hostname}\n")
        texts = {"hosts": hosts, "hostname": hostname + "\n", "resolv.conf": ""}
        for m in spec.mounts:
            name = os.path.basename(m.source or "")
            if m.type == "bind" and name in texts and os.path.dirname(m.source) == str(c.dir):
                (c.dir / name).write_text(texts[name])

    def launch_spec_for(self, c: Container, spec, procs: list[str]) -> launcher.LaunchSpec:
        """What the launcher needs to start ``c`` from its config.json ``spec`` (also the dry-run plan's)."""
        from ..oci.launch import launch_spec
        return launch_spec(spec, str(c.dir), proc_root=self.proc_root, cgroup_procs=procs,
                           generated_dir=str(c.dir))

    def build_config(self, c: Container, image, opts: RunOptions, volumes: list[dict]):
        """The config.json of a new container (:mod:`minicontainer.oci.build`), validated."""
        from ..oci import build, validate
        spec = build.build(image, opts, container_id=c.id, container_dir=c.dir,
                           hostname=opts.hostname or c.short_id, volumes=volumes, proc_root=self.proc_root,
                           rootless=self._rootless())
        validate(spec, str(c.dir), need_root=False)
        return spec

    def record_limits(self, c: Container, limits) -> None:
        """``update``: the new limits become config.json's linux.resources too."""
        from ..oci.build import resources_for
        spec = c.spec()
        spec.linux.resources = resources_for(limits)
        c.save_spec(spec, "update")

    def _rootless(self) -> bool:
        """Rootless mode (an ordinary user, or root of a user namespace): no cgroups, a user namespace."""
        if getattr(self, "rootless", None) is None:
            from ..security import rootless
            self.rootless = rootless.active(proc_root=self.proc_root)
        return self.rootless

    # -- public API ------------------------------------------------------------
    def container(self, ref: str):
        """The verbs on one existing container (:class:`~minicontainer.runtime.lifecycle.ContainerHandle`)."""
        from .lifecycle import ContainerHandle
        return ContainerHandle(self, ref)

    def create(self, opts: RunOptions) -> Container:
        """Check the options, resolve the image and record a new container (status ``created``)."""
        opts.validate()
        from ..security import rootless
        rootless.check(opts, self._rootless(), self.proc_root, self.cgroup_root)
        if opts.network != "none" or opts.publish:
            from .. import network
            network.validate(self.root, opts.network, opts.publish)
        image = self.resolve_image(opts.image)
        argv = command_for(image.config, opts.command, opts.entrypoint)
        # what Docker shows of the request and config.json has no field for (see containers.py)
        config = {"env": list(opts.env), "stdin_once": opts.stdin_once, "rm": opts.rm,
                  "stop_signal": image.config.get("StopSignal") or "SIGTERM",
                  "labels": {**(image.config.get("Labels") or {}), **opts.labels}}
        config["security"] = opts.security_config()
        if opts.user is None and image.config.get("User"):   # the image's USER, as docker run applies it
            config["security"]["user"] = image.config["User"]
        from .volumes import VolumeStore, materialize, undo
        vstore = VolumeStore(self.root)
        records = opts.volume_records()
        # a volume cannot be removed between being found and being recorded as used
        with (vstore.lock() if any(r["type"] == "volume" for r in records) else contextlib.nullcontext()):
            config["volumes"], made = materialize(vstore, records)
            try:
                c = self.containers.create(name=opts.name, image=opts.image, image_id=image.id, command=argv,
                                           config=config)
            except BaseException:
                undo(vstore, made)
                raise
        try:
            c.save_spec(self.build_config(c, image, opts, config["volumes"]), "create")
        except BaseException:
            self.containers.remove(c)
            undo(vstore, made)
            raise
        from .cgroup_sweep import register
        register(self.root, c.id)   # so a crash leftover of its cgroup is known to be ours
        events.container(self.root, c, "create")
        return c

    def run(self, opts: RunOptions, *, stdin=None, stdout=None, stderr=None) -> RunResult:
        """Create and start a container; unless detached, wait for it and clean up.

        The container's standard streams are the caller's own, unless files (or
        descriptors) are given for them.
        """
        c = self.create(opts)
        return self.start(c.id, attach=not opts.detach, stdin=stdin, stdout=stdout, stderr=stderr,
                          explain=opts.explain)

    def start(self, ref: str, *, attach: bool = False, stdin=None, stdout=None, stderr=None,
              explain: bool = False) -> RunResult:
        """Start a created or exited container: in the background, or attached until it exits."""
        c = self.containers.get(ref)
        if c.state is Status.RUNNING and self.refresh(self.containers.load(c.id)).state is not Status.RUNNING:
            self._await_reaper(c, written=True)   # it has exited (kill; start): its status, or its removal (--rm)
        self.images().resolve(c.image_id)   # its layers are the container's root
        stdio = {fd: (f if isinstance(f, int) else f.fileno())
                 for fd, f in ((0, stdin), (1, stdout), (2, stderr)) if f is not None}
        with self.containers.lock(c):
            c = self.settle(self.containers.load(c.id))    # an exit not yet recorded is recorded now
            require(c.state, "start", c.name)
            for stale in ("exit", "exit.tmp"):
                (c.dir / stale).unlink(missing_ok=True)
            if not attach:
                return self._detached(c, explain)
        return self._attached(c, stdio, explain)

    def _prepare(self, c: Container, sys: Syscalls):
        from ..oci.launch import limits as limits_of
        spec = c.spec()
        cgroup = self.cgroup_manager(c.id, sys)
        cgroup.create()
        try:
            limits = limits_of(spec)
            if limits is not None:
                cgroup.apply(limits)
            self._etc_files(c, spec)
            launch = self.launch_spec_for(c, spec, [str(p) for p in cgroup.procs_files()])
            return cgroup, launch, self._network_hook(c, spec)
        except BaseException:
            try:
                cgroup.remove()
            except MiniContainerError as err:  # the caller never saw this cgroup; the first error wins
                from .. import log
                log.swallowed("runtime", "remove cgroup", err)
            raise

    def _network_hook(self, c: Container, spec):
        """Called with the PID of the container's init once it waits in its new namespaces."""
        import json
        from ..oci import annotations as A
        mode = spec.annotations.get(A.NETWORK, "none")
        if mode in ("none", "host"):
            return None

        def connect(pid: int) -> None:
            from .. import network
            ports = json.loads(spec.annotations.get(A.PUBLISH, "[]"))
            expose = json.loads(spec.annotations.get(A.EXPOSE, "[]"))
            if expose:
                ports += network.publish_all(expose, "127.0.0.1")
            ep = network.connect(self.root, c.id, c.name, pid, network=mode, ports=ports,
                                 hostname=spec.hostname, files_dir=c.dir, syscalls=self.sys,
                                 proc_root=self.proc_root)
            c.extra["network"] = ep.to_dict()
        return connect

    def disconnect_networks(self, c: Container) -> None:
        """Take ``c`` off its networks (veth, address, port rules); a failure is logged, not raised."""
        if c.network != "none":
            from .. import network
            try:
                network.disconnect(self.root, c.id, proc_root=self.proc_root)
            except MiniContainerError as err:
                from .. import log
                log.swallowed("runtime", f"disconnect {c.id[:12]}", err)

    def _mark_running(self, c: Container, started: launcher.Started) -> None:
        c.status, c.pid, c.started_at = Status.RUNNING.value, started.pid, time.time()
        c.monitor_pid, c.exit_code, c.oom_killed = started.monitor_pid, None, False
        c.pid_start = start_ticks(self.proc_root, started.pid)
        self.containers.save(c)
        events.container(self.root, c, "start")

    def _attached(self, c: Container, stdio: dict[int, int], explain: bool) -> RunResult:
        sys = self.sys
        sys.steps.clear()  # the steps of this start only
        cgroup, code, oom = None, 125, False
        try:
            cgroup, spec, hook = self._prepare(c, sys)
            spec.stdio, spec.trace = stdio, explain
            with SignalProxy(self.sys) as proxy:
                started = launcher.start(sys, spec, on_ready=hook)
                self._mark_running(c, started)
                proxy.attach(started.pid)
                code = exit_code(wait_for_exit(started, spec.interactive, stdio))
            oom = code == 137 and bool(cgroup.oom_killed())
            return RunResult(exit_code=code, container=c, steps=started.steps, oom_killed=oom)
        except MiniContainerError as err:
            code = err.exit_code
            err.container_id = c.id
            if not getattr(err, "steps", None):
                err.steps = list(sys.steps)
            raise
        finally:
            self._finish(c, cgroup, code, bool(c.config.get("rm")), oom)

    def _detached(self, c: Container, explain: bool) -> RunResult:
        """Start with a monitor that outlives us; it records the exit through the reaper."""
        from ..monitor import ATTACH_SOCKET, DetachSpec, binary
        sys = self.sys
        sys.steps.clear()  # the steps of this start only
        cgroup = None
        try:
            cgroup, spec, hook = self._prepare(c, sys)
            spec.detach = DetachSpec(exit_file=str(c.dir / "exit"), log_file=str(c.dir / "container.log"),
                                     cleanup_argv=reaper_argv(self.root, c.id), binary=binary(),
                                     attach_socket=str(c.dir / ATTACH_SOCKET) if spec.interactive else None,
                                     stdin_once=bool(c.config.get("stdin_once")))
            spec.trace = explain
            # the detached monitor outlives us by design; PR_SET_PDEATHSIG would also fire when the
            # short-lived middle process of its double fork exits (a race lost under load). If we die
            # while starting, the container reads EOF instead of "go" and exits; the reaper records it
            spec.die_with_runtime = False
            started = launcher.start(sys, spec, on_ready=hook)
        except MiniContainerError as err:
            err.container_id = c.id
            if getattr(err, "pid_known", False):
                self._await_reaper(c)  # the monitor owns the container now: its reaper records the failure
                raise
            self._finish(c, cgroup, err.exit_code, bool(c.config.get("rm")), False)
            raise
        self._mark_running(c, started)
        return RunResult(exit_code=0, container=c, steps=started.steps)

    def _await_reaper(self, c: Container, timeout: float = 15.0, written: bool = False) -> None:
        """Until the reaper has recorded ``c``'s exit (or removed it); with ``written``, only until
        the monitor has written the status, which :meth:`settle` records under the lock."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if written and not c.config.get("rm") and (c.dir / "exit").exists():
                return
            try:
                if self.containers.load(c.id).state is not Status.RUNNING:
                    return
            except NotFoundError:
                return  # removed (--rm)
            time.sleep(0.02)

    def run_captured(self, opts: RunOptions, stdin: str | None = None, explain: bool = True) -> RunResult:
        """Run and collect the container's output as text, and its kernel steps (what a notebook cell wants)."""
        import tempfile
        opts.explain = opts.explain or explain
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                tempfile.TemporaryFile() as inp:
            if stdin is not None:
                inp.write(stdin.encode())
                inp.seek(0)
                opts.interactive = True
            result = self.run(opts, stdin=inp, stdout=out, stderr=err)
            out.seek(0)
            err.seek(0)
            result.stdout = out.read().decode(errors="replace")
            result.stderr = err.read().decode(errors="replace")
            return result

    def _finish(self, c: Container, cgroup, code: int, rm: bool, oom: bool) -> None:
        """Whatever happened: no process, cgroup or (with ``rm``) file of the container remains."""
        if c.status == Status.RUNNING.value:     # it had started: the exit is an event (a failed start is not)
            if oom:
                events.container(self.root, c, "oom")
            events.container(self.root, c, "die", exitCode=code)
        self.disconnect_networks(c)
        if cgroup is not None:
            try:
                cgroup.remove()
            except MiniContainerError as err:
                from .. import log
                log.swallowed("runtime", f"remove cgroup of {c.id[:12]}", err)
        if rm:
            self.containers.remove(c)
            return
        c.status = Status.EXITED.value
        c.exit_code = code
        c.oom_killed = oom
        c.pid = 0
        c.finished_at = time.time()
        self.containers.save(c)

    def remove(self, ref: str, force: bool = False) -> Container:
        c = self.containers.get(ref)
        with self.containers.lock(c):
            status = self.refresh(c).state
            require(status, "remove", c.name, force=force)
            if status in (Status.RUNNING, Status.PAUSED) and c.pid:
                send_signal(self.sys, c.pid, signal.SIGKILL, "rm --force: end the container's PID 1 "
                            "(its namespace's other processes die with it)")
            try:
                self.cgroup_manager(c.id, self.sys).remove()
            except MiniContainerError as err:
                from .. import log
                log.swallowed("runtime", f"remove cgroup of {c.id[:12]}", err)
            self.disconnect_networks(c)
        self.containers.remove(c)
        return c

    def settle(self, c: Container) -> Container:
        """With the container's lock held: a run whose exit status is written but which its reaper
        has not recorded yet (a fresh interpreter, a tenth of a second behind) is recorded now,
        cgroup and network freed, so that what the caller saves or starts next is not undone
        by that reaper (it then finds another run recorded, and leaves it). A ``--rm``
        container is left to its reaper, which removes it."""
        if c.state in (Status.RUNNING, Status.PAUSED) and not c.config.get("rm"):
            from ..monitor import read_exit
            if read_exit(c.dir / "exit") is not None:
                from .reaper import record_exit
                record_exit(self, c)
        return self.refresh(c)

    def refresh(self, c: Container) -> Container:
        """Tell the truth about a container whose process may have vanished.

        The monitor writes the exit status before its reaper records it: in between, the
        container is shown as exited already. A container whose process is gone with no
        status written lost its monitor (killed along with it): it is ``dead``.
        """
        if c.state in (Status.RUNNING, Status.PAUSED):
            from ..monitor import read_exit
            status = read_exit(c.dir / "exit")
            if status is not None:
                c.status, c.exit_code, c.pid = Status.EXITED.value, exit_code(status), 0
                c.finished_at = c.finished_at or (c.dir / "exit").stat().st_mtime
                c.oom_killed = c.exit_code == 137 and self._oom_killed(c)
            elif not alive(self.proc_root, c.pid, c.pid_start):
                c.status = Status.DEAD.value
        return c

    def _oom_killed(self, c: Container) -> bool:
        """The kernel's OOM-kill counter of the container's cgroup, while the reaper has not removed it."""
        try:
            return bool(self.cgroup_manager(c.id, self.sys).oom_killed())
        except MiniContainerError as err:   # removed by the reaper meanwhile
            from .. import log
            log.swallowed("runtime", f"read oom counter of {c.id[:12]}", err)
            return False

    def explain_plan(self, opts: RunOptions) -> list[Step]:
        """The ordered kernel steps ``run`` would take, from a RecordingSyscalls dry run."""
        from .explain import plan_for
        return plan_for(self, opts)


def reaper_argv(root: Path, cid: str) -> list[str]:
    import sys
    return [sys.executable, "-m", "minicontainer.runtime.reaper", str(root), cid]

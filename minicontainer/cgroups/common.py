"""The one interface every cgroup backend offers, and the parts they share.

A container's cgroup is a directory (one per hierarchy on v1, one in all on v2). Its
life, whichever the version (see cgroups(7)):

1. **create**: mkdir(2) it, under the caller's own cgroup, as ``<caller>/minicontainer/<id>``
   (runc does the same, so nested runtimes and test harnesses keep their limits);
2. **join**: a process writes a PID into ``cgroup.procs`` (``"0"`` means "me"); its
   children are born inside; the container's first process joins before it unshares
   its cgroup namespace, so that the cgroup becomes its root (cgroup_namespaces(7));
3. **limit / measure**: write knobs, read counters;
4. **remove**: rmdir(2) works only on a cgroup without processes (EBUSY otherwise), so
   whatever is left is killed first. A dying process can keep the cgroup busy for a few
   milliseconds after SIGKILL, so the rmdir is retried. The shared ``minicontainer``
   parent is removed when it becomes empty; another container may be creating or
   removing its own cgroup at the same moment, so EBUSY/ENOTEMPTY there is normal.

Backends (:mod:`.v1`, :mod:`.v2`) implement the abstract methods; writes, mkdir, rmdir and
kill go through the :class:`~minicontainer.kernel.base.Syscalls` object, reads are plain
file reads.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CgroupError, ConflictError, KernelError, UsageError
from ..kernel.base import Syscalls
from .limits import Limits

PARENT_NAME = "minicontainer"     # the directory under the caller's cgroup that holds ours
UNLIMITED = None                  # how stats show "no limit"
_HUGE = 1 << 62                   # v1 reports "no limit" as a number close to 2**63


@dataclass(frozen=True)
class CgroupStats:
    """One sample of a cgroup's counters (``None`` where the kernel offers no counter)."""

    time_ns: int                      # time.monotonic_ns() when sampled
    cpu_usage_ns: int | None          # CPU time used by every process, ever
    memory_usage: int | None          # bytes charged now
    memory_limit: int | None          # bytes; None: unlimited
    pids_current: int | None
    pids_limit: int | None            # None: unlimited
    oom_kills: int | None             # processes the OOM killer has killed in this cgroup
    nr_throttled: int | None = None   # CFS periods in which the group was throttled


def container_cgroup_name(container_id: str) -> str:
    """The relative cgroup name of a container: ``minicontainer/<id>``."""
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise UsageError(f"invalid container id {container_id!r} for a cgroup name", op="cgroup")
    return f"{PARENT_NAME}/{container_id}"


def read_text(path: Path) -> str:
    """Read a cgroup file; an OSError becomes a :class:`CgroupError` naming the file."""
    try:
        return Path(path).read_text()
    except OSError as err:
        raise CgroupError(f"cannot read: {os.strerror(err.errno or 0).lower()}", op="read", path=path) from err


def read_int(path: Path) -> int | None:
    """A file holding one number, or ``max``/a huge v1 value for "unlimited" (-> None)."""
    text = read_text(path).strip()
    if text == "max":
        return None
    value = int(text)
    return None if value >= _HUGE else value


def read_keyed(path: Path) -> dict[str, int]:
    """A "flat keyed" file (``key value`` per line) such as memory.events or cpu.stat."""
    out: dict[str, int] = {}
    for line in read_text(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def optional(fn, *args):
    """Call a reader; a missing file (a controller not there) gives None."""
    try:
        return fn(*args)
    except CgroupError as err:
        if isinstance(err.__cause__, FileNotFoundError):
            return None
        raise


class CgroupManager:
    """One container's cgroup(s). Construct through :func:`minicontainer.cgroups.new_manager`.

    ``dirs`` maps each controller to the container's directory in that controller's
    hierarchy (on v2 every controller maps to the same directory); ``bases`` maps each
    directory to the caller's cgroup below which it was placed, so that :meth:`remove`
    knows which empty parents it may remove again.
    """

    version = 0

    def __init__(self, name: str, dirs: dict[str, Path], bases: dict[Path, Path], syscalls: Syscalls,
                 proc_root: Path) -> None:
        self.name = name
        self.dirs = dict(dirs)
        self.bases = dict(bases)
        self.syscalls = syscalls
        self.proc_root = Path(proc_root)
        self.wait_timeout = 5.0        # seconds to wait for killed processes to leave

    # -- what a backend provides ---------------------------------------------
    def apply(self, limits: Limits) -> None:
        raise NotImplementedError

    def stats(self) -> CgroupStats:
        raise NotImplementedError

    def oom_killed(self) -> bool:
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def kill_all(self) -> None:
        raise NotImplementedError

    def _prepare_parent(self, parent: Path) -> None:
        """Called before a directory is created in ``parent`` (v2: delegate controllers)."""

    def _prepare_new(self, path: Path, parent: Path) -> None:
        """Called after ``path`` was created (v1: copy cpuset.cpus/mems from the parent)."""

    # -- shared --------------------------------------------------------------
    def paths(self) -> list[Path]:
        """The container's directories, one per hierarchy, in a stable order."""
        return sorted(set(self.dirs.values()))

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` files a process writes ``"0"`` into to join itself."""
        return [p / "cgroup.procs" for p in self.paths()]

    def exists(self) -> bool:
        return any(p.is_dir() for p in self.paths())

    def write(self, path: Path, value: str, why: str, op: str = "write") -> None:
        """Write one cgroup file through the Syscalls object; failures become CgroupError."""
        try:
            self.syscalls.write_file(str(path), value, why)
        except KernelError as err:
            raise CgroupError(f"cannot write {value!r}: {err.message}", op=op, path=path) from err

    def create(self) -> None:
        """mkdir the container's cgroup in every hierarchy, parents first.

        Raises :class:`ConflictError` when it already exists, and leaves nothing behind on
        failure.
        """
        for path in self.paths():
            if path.is_dir():
                raise ConflictError("cgroup already exists", op="create cgroup", path=path)
        created: list[Path] = []
        try:
            for path in self.paths():
                self._make(path, self.bases[path], created)
        except BaseException:
            for path in reversed(created):
                self._rmdir_retry(path, quiet=True)
            raise

    def _make(self, path: Path, base: Path, created: list[Path]) -> None:
        chain = [path]
        while chain[-1].parent != base and base in chain[-1].parents:
            chain.append(chain[-1].parent)
        chain.reverse()
        for attempt in range(10):
            try:
                for d in chain:
                    if d.is_dir():
                        continue
                    self._prepare_parent(d.parent)
                    self.syscalls.mkdir(str(d), 0o755, f"create the cgroup {d.name} (a cgroup is a directory)")
                    created.append(d)
                    self._prepare_new(d, d.parent)
                return
            except KernelError as err:
                # ENOENT: a concurrent remove took our parent away between two mkdirs; retry.
                if err.errno == errno.ENOENT and attempt < 9:
                    continue
                raise CgroupError(f"cannot create: {err.message}", op="mkdir", path=err.path or path) from err

    def pids(self) -> list[int]:
        """Every process in the container's cgroups (from ``cgroup.procs``)."""
        found: set[int] = set()
        for path in self.procs_files():
            text = optional(read_text, path)
            found.update(int(x) for x in (text or "").split())
        return sorted(found)

    def add_process(self, pid: int) -> None:
        """Move process ``pid`` into the container's cgroup in every hierarchy."""
        for path in self.procs_files():
            self.write(path, str(pid), f"move process {pid} into the container's cgroup", op="add process")

    def _kill_listed(self) -> None:
        """SIGKILL each process listed in cgroup.procs (refusing to kill ourselves)."""
        me = os.getpid()
        for pid in self.pids():
            if pid == me:
                raise CgroupError("refusing to kill the calling process, which is in this cgroup", op="kill")
            try:
                self.syscalls.kill(pid, signal.SIGKILL, "kill what is left in the container's cgroup")
            except KernelError as err:
                if err.errno != errno.ESRCH:  # already gone: fine
                    raise CgroupError(f"cannot kill {pid}: {err.message}", op="kill") from err

    def wait_empty(self, timeout: float | None = None, rekill: bool = True) -> None:
        """Wait until no process is left (killed processes take a moment to exit).

        With ``rekill``, SIGKILL whatever is still listed on each round: without a freezer a
        process may have forked between our reading cgroup.procs and our kill.
        """
        deadline = time.monotonic() + (self.wait_timeout if timeout is None else timeout)
        while self.pids():
            if time.monotonic() > deadline:
                raise CgroupError(f"processes still present after SIGKILL: {self.pids()}", op="kill",
                                  path=self.paths()[0])
            if rekill:
                self._kill_listed()
            time.sleep(0.01)

    def _rmdir_retry(self, path: Path, quiet: bool = False) -> None:
        """rmdir a cgroup (children first); retry EBUSY while exiting processes drain."""
        if not path.is_dir():
            return
        for child in sorted((c for c in path.iterdir() if c.is_dir()), reverse=True):
            self._rmdir_retry(child, quiet)
        deadline = time.monotonic() + self.wait_timeout
        while True:
            try:
                self.syscalls.rmdir(str(path), "remove the cgroup (it must hold no process)")
                return
            except KernelError as err:
                if err.errno == errno.ENOENT:
                    return
                if err.errno == errno.EBUSY and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                if quiet:       # undoing a failed create: the create's own error is the one raised
                    from .. import log
                    log.swallowed("cgroups", "remove the cgroup", err, path)
                    return
                raise CgroupError(f"cannot remove: {err.message}", op="rmdir", path=path) from err

    def remove(self) -> None:
        """Kill what is left, rmdir the cgroups, then the empty ``minicontainer`` parents."""
        if self.exists() and self.pids():
            self.kill_all()
        for path in self.paths():
            self._rmdir_retry(path)
        for path in self.paths():
            base, parent = self.bases[path], path.parent
            while parent != base and base in parent.parents:
                try:
                    self.syscalls.rmdir(str(parent), "remove the shared parent cgroup if it is now empty")
                except KernelError as err:
                    # Another container still uses it, or removed it first: both are fine.
                    if err.errno in (errno.EBUSY, errno.ENOTEMPTY, errno.ENOENT, errno.EEXIST):
                        break
                    raise CgroupError(f"cannot remove: {err.message}", op="rmdir", path=parent) from err
                parent = parent.parent

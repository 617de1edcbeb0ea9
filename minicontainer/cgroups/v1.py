"""The cgroup v1 backend: one directory per hierarchy, one hierarchy per controller.

On v1 (see cgroups(7), "Cgroups version 1", and the kernel's
Documentation/admin-guide/cgroup-v1/) every controller is its own tree, usually mounted at
``/sys/fs/cgroup/<controller>``; some are co-mounted (``cpu,cpuacct``). A container gets a
directory in each tree it uses, and its processes are written into each ``cgroup.procs``.

The knobs this backend writes:

* memory (cgroup-v1/memory.rst): ``memory.limit_in_bytes``; ``memory.memsw.limit_in_bytes``
  (memory + swap, must never be below the memory limit, so the write order matters);
  ``memory.oom_control`` reports ``oom_kill N``, the kernel's own count of OOM kills;
* cpu (scheduler/sched-bwc.rst): ``cpu.cfs_period_us``/``cpu.cfs_quota_us``, ``cpu.shares``;
  cpuacct: ``cpuacct.usage`` (nanoseconds of CPU time);
* pids (cgroup-v1/pids.rst): ``pids.max``, ``pids.current`` - fork(2) fails with EAGAIN
  once the group holds ``pids.max`` tasks;
* cpuset (cgroup-v1/cpusets.rst): a new cpuset starts with *empty* ``cpuset.cpus`` and
  ``cpuset.mems``, and no task may join until both are filled, so we copy the parent's;
* freezer (cgroup-v1/freezer-subsystem.rst): write ``FROZEN``/``THAWED`` to
  ``freezer.state``; it reads ``FREEZING`` until every task is stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import log
from ..errors import CgroupError
from .common import CgroupManager, CgroupStats, optional, read_int, read_keyed, read_text
from .limits import Limits


class V1Manager(CgroupManager):
    """A container's cgroups on v1 hierarchies."""

    version = 1

    def _dir(self, controller: str, limit: str | None = None) -> Path:
        path = self.dirs.get(controller)
        if path is None:
            raise CgroupError(f"the {controller} controller is not mounted on this host, so {limit} cannot be set"
                              if limit else f"the {controller} controller is not mounted on this host",
                              op="apply" if limit else controller)
        return path

    # -- creation: cpuset needs its cpus and mems before a task may join ------
    def _prepare_new(self, path: Path, parent: Path) -> None:
        if self.dirs.get("cpuset") is None or not (path / "cpuset.cpus").exists():
            return
        for name in ("cpuset.cpus", "cpuset.mems"):
            if read_text(path / name).strip():
                continue
            # the parent may be brand new too, made a moment ago by a concurrent start that has
            # not filled it yet: fill every empty ancestor from the nearest one that has a value
            empty = [path]
            here = parent
            while not read_text(here / name).strip() and (here.parent / name).exists():
                empty.append(here)
                here = here.parent
            value = read_text(here / name).strip()
            for d in reversed(empty):
                if not read_text(d / name).strip():
                    self.write(d / name, value, f"copy {name} from the parent: a new cpuset starts empty")

    # -- limits --------------------------------------------------------------
    def apply(self, limits: Limits) -> None:
        """Write every limit that is set (others are left as they are)."""
        if limits.memory is not None or limits.memory_swap is not None:
            self._apply_memory(limits)
        if limits.cpus is not None:
            cpu = self._dir("cpu", "--cpus")
            self.write(cpu / "cpu.cfs_period_us", str(limits.period_us()), "the CFS accounting period (us)")
            self.write(cpu / "cpu.cfs_quota_us", str(limits.cpu_quota_us()),
                       f"{limits.cpus} CPUs: CPU time allowed per period (us)")
        if limits.cpu_shares is not None:
            self.write(self._dir("cpu", "--cpu-shares") / "cpu.shares", str(limits.cpu_shares),
                       "relative CPU weight when CPUs are contended")
        if limits.pids_limit is not None:
            value = "max" if limits.pids_limit == -1 else str(limits.pids_limit)
            self.write(self._dir("pids", "--pids-limit") / "pids.max", value,
                       "the most tasks the container may hold: fork() fails beyond it")
        if limits.cpuset_cpus is not None:
            self.write(self._dir("cpuset", "--cpuset-cpus") / "cpuset.cpus", limits.cpuset_cpus,
                       "the CPUs the container may run on")

    def _apply_memory(self, limits: Limits) -> None:
        mem = self._dir("memory", "--memory")
        limit_file, memsw_file = mem / "memory.limit_in_bytes", mem / "memory.memsw.limit_in_bytes"
        memory = None if limits.memory is None else str(limits.memory)
        swap = None if limits.memory_swap is None else str(limits.memory_swap)
        if swap is not None and not memsw_file.exists():
            raise CgroupError("this kernel does not account swap (boot with swapaccount=1), so --memory-swap "
                              "cannot be set", op="apply", path=memsw_file)
        why_mem = "the memory limit: beyond it the kernel reclaims, then OOM-kills"
        why_swap = "the memory+swap limit"
        if memory is not None and swap is not None:
            # The kernel insists memsw >= limit at every moment (cgroup-v1/memory.rst), so when
            # raising, raise memsw first; when lowering, lower the memory limit first (as runc).
            current = read_int(limit_file)
            if limits.memory_swap == -1 or (current is not None and current < limits.memory_swap):
                self.write(memsw_file, swap, why_swap)
                self.write(limit_file, memory, why_mem)
            else:
                self.write(limit_file, memory, why_mem)
                self.write(memsw_file, swap, why_swap)
        elif memory is not None:
            self.write(limit_file, memory, why_mem)
        else:
            self.write(memsw_file, swap, why_swap)

    # -- counters ------------------------------------------------------------
    def stats(self) -> CgroupStats:
        now = time.monotonic_ns()
        mem, pids = self.dirs.get("memory"), self.dirs.get("pids")
        cpuacct, cpu = self.dirs.get("cpuacct"), self.dirs.get("cpu")
        oom = optional(read_keyed, mem / "memory.oom_control") if mem else None
        throttle = optional(read_keyed, cpu / "cpu.stat") if cpu else None
        return CgroupStats(
            time_ns=now,
            cpu_usage_ns=optional(read_int, cpuacct / "cpuacct.usage") if cpuacct else None,
            memory_usage=optional(read_int, mem / "memory.usage_in_bytes") if mem else None,
            memory_limit=optional(read_int, mem / "memory.limit_in_bytes") if mem else None,
            pids_current=optional(read_int, pids / "pids.current") if pids else None,
            pids_limit=optional(read_int, pids / "pids.max") if pids else None,
            oom_kills=oom.get("oom_kill") if oom else None,
            nr_throttled=throttle.get("nr_throttled") if throttle else None,
        )

    def oom_killed(self) -> bool:
        """True when the OOM killer killed a process here (``oom_kill`` in memory.oom_control)."""
        mem = self.dirs.get("memory")
        if mem is None:
            return False
        counters = optional(read_keyed, mem / "memory.oom_control") or {}
        return counters.get("oom_kill", 0) > 0

    # -- freezer -------------------------------------------------------------
    def _set_freezer(self, state: str, why: str) -> None:
        path = self._dir("freezer") / "freezer.state"
        self.write(path, state, why, op="freeze" if state == "FROZEN" else "thaw")
        deadline = time.monotonic() + self.wait_timeout
        while read_text(path).strip() != state:   # FREEZING while tasks are being stopped
            if time.monotonic() > deadline:
                if state == "FROZEN":
                    # A task that cannot be frozen (e.g. a parent waiting in vfork(2)) keeps the
                    # group FREEZING for ever; never leave it half-frozen.
                    self.write(path, "THAWED", "give up freezing: not every task could be stopped", op="thaw")
                raise CgroupError(f"freezer did not reach {state}", op="freeze", path=path)
            time.sleep(0.005)

    def freeze(self) -> None:
        self._set_freezer("FROZEN", "stop every task in the container (they cannot run until thawed)")

    def thaw(self) -> None:
        self._set_freezer("THAWED", "let the container's tasks run again")

    def kill_all(self) -> None:
        """Freeze (so nothing can fork while we kill), SIGKILL each task, thaw, wait for them to go."""
        frozen = False
        if self.dirs.get("freezer") is not None and self.dirs["freezer"].is_dir():
            try:
                self.freeze()
                frozen = True
            except CgroupError as err:   # kill without it: wait_empty() kills again what forked meanwhile
                log.swallowed("cgroup", "freeze before killing", err, self.dirs["freezer"])
        try:
            self._kill_listed()
        finally:
            if frozen:
                self.thaw()   # a frozen task cannot act on SIGKILL until thawed
        self.wait_empty()

"""The cgroup v2 backend: one tree, every controller, explicit delegation.

On v2 (the kernel's Documentation/admin-guide/cgroup-v2.rst; cgroups(7) "Cgroups version
2") there is a single hierarchy. Two rules shape how a runtime uses it:

* **Controllers are handed down explicitly.** A cgroup's ``cgroup.controllers`` lists what
  its parent granted it; writing ``+memory`` into its ``cgroup.subtree_control`` grants
  ``memory`` to its children. So before ``minicontainer/<id>`` can have ``memory.max``,
  ``+memory`` must be written into the subtree_control of every ancestor below the root.
* **No internal processes.** A cgroup other than the root cannot both hold processes and
  grant domain controllers to children. The calling process always sits in its own cgroup,
  so on v2 containers go under the *root* of the hierarchy (``/minicontainer/<id>``), as
  runc's cgroupfs driver does, not under the caller's cgroup.

The files: ``memory.max``, ``memory.swap.max`` (swap alone, unlike v1's memsw),
``cpu.max`` (``"quota period"`` or ``"max period"``), ``cpu.weight`` (1..10000),
``pids.max``, ``cpuset.cpus``; ``cgroup.freeze`` (reported done by ``frozen 1`` in
``cgroup.events``); ``cgroup.kill`` (Linux 5.14+) kills every process in one write.
Counters: ``cpu.stat`` (``usage_usec``), ``memory.current``, ``pids.current``, and
``memory.events`` whose ``oom_kill`` is the kernel's own count of OOM kills.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import CgroupError
from .common import CgroupManager, CgroupStats, optional, read_int, read_keyed, read_text
from .detect import V2_CONTROLLERS
from .limits import Limits, shares_to_weight


class V2Manager(CgroupManager):
    """A container's cgroup in the unified (v2) hierarchy."""

    version = 2

    @property
    def path(self) -> Path:
        return self.paths()[0]

    # -- creation: delegate controllers down the tree -------------------------
    def _prepare_parent(self, parent: Path) -> None:
        """Grant our controllers to ``parent``'s children, where the parent has them to give."""
        available = set((optional(read_text, parent / "cgroup.controllers") or "").split())
        enabled = set((optional(read_text, parent / "cgroup.subtree_control") or "").split())
        missing = [c for c in V2_CONTROLLERS if c in available and c not in enabled]
        if missing:
            self.write(parent / "cgroup.subtree_control", " ".join("+" + c for c in missing),
                       "let child cgroups use these controllers (delegation)", op="delegate")

    def _need(self, name: str, flag: str) -> Path:
        path = self.path / name
        if not path.exists():
            raise CgroupError(f"{name} does not exist: the controller is not enabled for this cgroup, "
                              f"so {flag} cannot be set", op="apply", path=path)
        return path

    # -- limits --------------------------------------------------------------
    def apply(self, limits: Limits) -> None:
        """Write every limit that is set (others are left as they are)."""
        if limits.memory is not None:
            self.write(self._need("memory.max", "--memory"), str(limits.memory),
                       "the memory limit: beyond it the kernel reclaims, then OOM-kills")
        if limits.memory_swap is not None:
            if limits.memory_swap == -1:
                swap = "max"
            else:
                memory = limits.memory if limits.memory is not None else read_int(self.path / "memory.max")
                if memory is None:
                    raise CgroupError("--memory-swap needs a memory limit", op="apply", path=self.path)
                swap = str(max(0, limits.memory_swap - memory))
            self.write(self._need("memory.swap.max", "--memory-swap"), swap,
                       "swap the container may use (v2 counts swap alone, not memory+swap)")
        if limits.cpus is not None:
            self.write(self._need("cpu.max", "--cpus"), f"{limits.cpu_quota_us()} {limits.period_us()}",
                       f"{limits.cpus} CPUs: CPU time allowed per period, and the period (us)")
        if limits.cpu_shares is not None:
            self.write(self._need("cpu.weight", "--cpu-shares"), str(shares_to_weight(limits.cpu_shares)),
                       f"cpu.shares {limits.cpu_shares} as a v2 weight (1..10000)")
        if limits.pids_limit is not None:
            value = "max" if limits.pids_limit == -1 else str(limits.pids_limit)
            self.write(self._need("pids.max", "--pids-limit"), value,
                       "the most tasks the container may hold: fork() fails beyond it")
        if limits.cpuset_cpus is not None:
            self.write(self._need("cpuset.cpus", "--cpuset-cpus"), limits.cpuset_cpus,
                       "the CPUs the container may run on")

    # -- counters ------------------------------------------------------------
    def stats(self) -> CgroupStats:
        now = time.monotonic_ns()
        cpu = optional(read_keyed, self.path / "cpu.stat") or {}
        events = optional(read_keyed, self.path / "memory.events")
        usage = cpu.get("usage_usec")
        return CgroupStats(
            time_ns=now,
            cpu_usage_ns=usage * 1000 if usage is not None else None,
            memory_usage=optional(read_int, self.path / "memory.current"),
            memory_limit=optional(read_int, self.path / "memory.max"),
            pids_current=optional(read_int, self.path / "pids.current"),
            pids_limit=optional(read_int, self.path / "pids.max"),
            oom_kills=events.get("oom_kill") if events is not None else None,
            nr_throttled=cpu.get("nr_throttled"),
        )

    def oom_killed(self) -> bool:
        """True when the OOM killer killed a process here (``oom_kill`` in memory.events)."""
        events = optional(read_keyed, self.path / "memory.events") or {}
        return events.get("oom_kill", 0) > 0

    # -- freeze / kill -------------------------------------------------------
    def _set_frozen(self, frozen: bool, why: str) -> None:
        path = self.path / "cgroup.freeze"
        if not path.exists():
            raise CgroupError("cgroup.freeze does not exist (Linux 5.2+ is needed to freeze on v2)",
                              op="freeze", path=path)
        self.write(path, "1" if frozen else "0", why, op="freeze" if frozen else "thaw")
        deadline = time.monotonic() + self.wait_timeout
        while (optional(read_keyed, self.path / "cgroup.events") or {}).get("frozen", int(frozen)) != int(frozen):
            if time.monotonic() > deadline:
                if frozen:   # never leave the group half-frozen
                    self.write(path, "0", "give up freezing: not every task could be stopped", op="thaw")
                raise CgroupError("the cgroup did not reach the requested freezer state", op="freeze", path=path)
            time.sleep(0.005)

    def freeze(self) -> None:
        self._set_frozen(True, "stop every task in the container (they cannot run until thawed)")

    def thaw(self) -> None:
        self._set_frozen(False, "let the container's tasks run again")

    def kill_all(self) -> None:
        """``cgroup.kill`` where the kernel has it (one write kills every process, even
        ones forking at that moment); otherwise freeze, SIGKILL each, thaw."""
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            self.write(kill_file, "1", "SIGKILL every process in the cgroup at once", op="kill")
        elif (self.path / "cgroup.freeze").exists():
            try:
                self.freeze()
            except CgroupError:
                self._kill_listed()      # could not freeze: wait_empty() kills again what forked
            else:
                try:
                    self._kill_listed()
                finally:
                    self.thaw()
        else:
            self._kill_listed()
        self.wait_empty()

"""``update``: change the resource limits of a container, even while it runs.

A cgroup's limits are plain files, and the kernel applies a new value the moment it is
written (cgroups(7)): lowering ``pids.max`` stops further fork(2)s at once, raising
``memory.limit_in_bytes`` (v1) or ``memory.max`` (v2) lets the group grow again, a new
``cpu.cfs_quota_us`` / ``cpu.max`` takes effect from the next CFS period. So updating a
running container is writing files into its cgroup -- no restart, no signal.

The merged limits (the old ones, with every limit named in the update replaced) are
also written into the container's record, so the next ``start`` applies them and
``inspect`` shows them, as ``docker update`` does.

Two limits depend on each other: ``--memory-swap`` counts memory *plus* swap and must
never be below ``--memory``. On v2 the kernel's file (``memory.swap.max``) holds swap
alone, so changing the memory limit also rewrites it. The merged pair is checked before
anything is written; if the kernel refuses a value half-way, the knobs already written
are set back to their previous values where these are known.
"""

from __future__ import annotations

from .. import log
from ..cgroups.limits import Limits
from ..errors import MiniContainerError, UsageError
from .containers import Container
from .state import Status


def merge(current: Limits, update: Limits) -> Limits:
    """The limits after ``update``, checked as a whole (UsageError when inconsistent)."""
    if update.is_empty():
        raise UsageError("you must provide one or more flags when using this command", op="update")
    merged = current.merged(update)
    if merged.memory_swap not in (None, -1):
        if merged.memory is None:
            raise UsageError("--memory-swap needs a memory limit as well", op="update")
        if merged.memory_swap < merged.memory:
            raise UsageError(f"memory limit {merged.memory} is above the memory+swap limit {merged.memory_swap}: "
                             "update --memory-swap at the same time", op="update")
    return merged


def to_write(update: Limits, merged: Limits) -> Limits:
    """What to write into the cgroup: the updated knobs, and both memory knobs when either changed."""
    data = update.to_dict()
    if update.memory is not None or update.memory_swap is not None:
        for key in ("memory", "memory_swap"):
            value = getattr(merged, key)
            if value is not None:
                data[key] = value
    return Limits.from_dict(data)


def update(rt, ref: str, limits: Limits) -> Container:
    """Apply ``limits`` to container ``ref`` (live when it runs) and record the merged limits in its
    config.json's linux.resources, where its next start reads them."""
    c = rt.containers.get(ref)
    with rt.containers.lock(c):
        c = rt.settle(rt.containers.load(c.id))
        from ..oci.launch import resource_limits
        linux = c.spec().linux
        current = resource_limits(linux.resources if linux else None) or Limits()   # config.json's: the one record
        merged = merge(current, limits)
        if c.state in (Status.RUNNING, Status.PAUSED):
            _apply_live(rt, c, to_write(limits, merged), current)
        rt.record_limits(c, merged)
    return c


def _apply_live(rt, c: Container, changes: Limits, previous: Limits) -> None:
    cgroup = rt.cgroup_manager(c.id, rt.sys)
    if not cgroup.exists():
        raise MiniContainerError(f"container {c.name} has no cgroup to update", op="update")
    try:
        cgroup.apply(changes)
    except MiniContainerError:
        # set back what we know, so a refused update does not leave a mixture behind
        known = {k: v for k, v in previous.to_dict().items() if k in changes.to_dict()}
        if known:
            try:
                cgroup.apply(Limits.from_dict(known))
            except MiniContainerError as err:   # the first failure is the one to report
                log.swallowed("update", "restore the previous limits", err, c.id)
        raise

"""A Syscalls implementation that records and never touches the kernel.

It answers each call with a harmless value (``fork`` returns 0, so the code under test
carries on as the child would) and can be told to fail a call with an errno, so tests
can drive error paths. ``execve`` records the step and then raises
:class:`DryRunFinished`, because a real execve never returns either; ``exit`` raises too
(the error being reported, or DryRunFinished). Where a path waits for another process
(the runtime's answer, its cgroup write once it knows a PID), the double plays that part in
place (``peer``); the process plumbing that no plan lists (``plumb``: streams, setsid,
lookups in the container's files) it only records, answering with a stand-in. So the code
that starts a container has no dry-run branches: the double is the whole difference.

Besides the people-readable :class:`~minicontainer.kernel.base.Step` list that ``--explain``
prints, it keeps each call's arguments as values (:class:`Call`): tests assert on
``calls_of("mount")[0].args["flags"] & MS_RDONLY`` rather than on rendered text, as youki's
``TestHelperSyscall`` keeps ``MountArgs``.
"""

from __future__ import annotations

import errno as _errno
import os

from dataclasses import dataclass, field

from ..errors import KernelError
from .base import Syscalls


class DryRunFinished(Exception):
    """Raised by :meth:`RecordingSyscalls.execve`: the plan has reached the exec."""


@dataclass
class Call:
    """One recorded call with its arguments as the caller passed them (names as in the method)."""

    call: str
    args: dict = field(default_factory=dict)
    why: str = ""


class RecordingSyscalls(Syscalls):
    """Records every call; ``fail={'mount': errno.EPERM}`` makes the first such call fail."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        super().__init__()
        self.fail = dict(fail or {})
        self.records: list[Call] = []

    def _run(self, call, args, why, thunk, typed):
        self.records.append(Call(call, dict(typed), why))

        def fake():
            code = self.fail.pop(call, None)
            if code is not None:
                raise KernelError(f"{os.strerror(code).lower()} ({_errno.errorcode.get(code, code)})",
                                  op=call, errno=code)
            if call == "fork":
                return 0  # carry on down the child's path, as a dry run should
            if call == "execve":
                raise DryRunFinished()
            return None
        return super()._run(call, args, why, fake, typed)

    def fork(self, why: str, *, peer=None) -> int:
        pid = super().fork(why)
        if peer is not None:     # the runtime's answer to the PID, shown where it happens
            self._as_runtime(peer)
        return pid

    def plumb(self, name, thunk, *, stand_in=None, peer=None):
        self.records.append(Call("plumb", {"name": name}))
        return self._as_runtime(peer) if peer is not None else stand_in

    def exit(self, code, failure=None):
        self.records.append(Call("exit", {"code": code}))
        raise failure if failure is not None else DryRunFinished()

    def _as_runtime(self, peer):
        where, self.where = self.where, "runtime"
        try:
            return peer()
        finally:
            self.where = where

    def calls(self) -> list[str]:
        """Just the call names, in order (handy in assertions)."""
        return [s.call for s in self.steps]

    def clear(self) -> None:
        """Forget what was recorded so far (steps and typed calls)."""
        self.steps.clear()
        self.records.clear()

    def calls_of(self, name: str) -> list[Call]:
        """The recorded calls named ``name`` ("mount", "write", "fork"...), in order, with typed arguments."""
        return [c for c in self.records if c.call == name]

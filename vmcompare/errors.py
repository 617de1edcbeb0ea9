"""Errors raised by the VM harness: members of minicontainer's one exception family.

A VM that fails is not the same as a VM that is slow. The harness keeps three cases
apart, because only a boot that reached its end may ever become a timing:

* :class:`VMLaunchError`: QEMU itself refused to start (bad option, missing file); it
  carries QEMU's ``exitcode``, the ``command`` and its ``output``, as QEMU's own Python
  ``VMLaunchFailure`` does;
* :class:`BootTimeout`: the guest did not finish in time, or went silent (a hang); the
  process group was killed and the attempt is recorded as a failure;
* :class:`GuestError`: the guest ran but said something we cannot use (no result line).
"""

from __future__ import annotations

from minicontainer.errors import MiniContainerError, NotFoundError, UsageError

__all__ = ["VMError", "VMLaunchError", "BootTimeout", "GuestError", "KernelFetchError",
           "NotFoundError", "UsageError", "RecordedResultsError"]


class VMError(MiniContainerError):
    """Something went wrong running a virtual machine."""


class VMLaunchError(VMError):
    """QEMU exited before the guest produced anything: usually a bad option or file."""

    def __init__(self, message: str, *, exitcode: int | None, command: list[str], output: str, path=None):
        super().__init__(message, op="launch qemu", path=path)
        self.exitcode = exitcode
        self.command = list(command)
        self.output = output


class BootTimeout(VMError):
    """The guest hung or exceeded its deadline; QEMU's process group was killed."""

    def __init__(self, message: str, *, kind: str, seconds: float, log: str = ""):
        super().__init__(message, op="boot")
        self.kind = kind          # "timeout" (hard deadline) or "hang" (silent console)
        self.seconds = seconds
        self.log = log


class GuestError(VMError):
    """The guest booted but did not report a usable result."""


class KernelFetchError(VMError):
    """The guest kernel package could not be downloaded or unpacked."""


class RecordedResultsError(MiniContainerError):
    """A file of recorded results (shown to readers who cannot measure) cannot be read or written."""

"""The kernel boundary: the only package that makes privileged system calls.

Use :func:`default` for the real thing and :class:`RecordingSyscalls` for tests and
``--explain --dry-run``.
"""

from .base import Step, Syscalls
from .recording import Call, DryRunFinished, RecordingSyscalls


def default() -> Syscalls:
    """The real implementation (imported lazily so non-Linux dry runs never load libc)."""
    from .linux import LinuxSyscalls
    return LinuxSyscalls()


__all__ = ["Call", "Step", "Syscalls", "RecordingSyscalls", "DryRunFinished", "default"]

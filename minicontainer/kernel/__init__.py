"""The kernel boundary: the only package that makes privileged system calls.

Use :func:`default` for the real thing and :class:`RecordingSyscalls` for tests and
``--explain --dry-run``.
"""

from .base import Step, Syscalls
from .recording import Call, DryRunFinished, RecordingSyscalls


def send_signal(sys: Syscalls, pid: int, signum: int, why: str) -> bool:
    """kill(2) through ``sys``; False when the process has already gone (ESRCH: it exited meanwhile,
    which a signal meant to end it may take as done), any other failure raises."""
    import errno
    from ..errors import KernelError
    try:
        sys.kill(pid, signum, why)
    except KernelError as err:
        if err.errno != errno.ESRCH:
            raise
        return False
    return True


def default() -> Syscalls:
    """The real implementation (imported lazily so non-Linux dry runs never load libc)."""
    from .linux import LinuxSyscalls
    return LinuxSyscalls()


__all__ = ["Call", "Step", "Syscalls", "RecordingSyscalls", "DryRunFinished", "default", "send_signal"]

"""The container runtime: records, the lifecycle state machine, and start/wait/remove.

Public API: :class:`Runtime`, :class:`RunOptions`, :class:`RunResult`, :class:`Status`.
"""

from .containers import Container, ContainerStore
from .options import RunOptions
from .runner import RunResult, Runtime
from .state import Status

__all__ = ["Container", "ContainerStore", "RunOptions", "RunResult", "Runtime", "Status"]

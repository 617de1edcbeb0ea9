"""The container lifecycle as an explicit state machine (as youki's ``container/state.rs``).

::

    created --start--> running --exit--> exited --start--> running ...
                        |   ^
                  pause |   | unpause
                        v   |
                       paused
    (any) --monitor lost--> dead          (any but running/paused) --rm--> gone

Every operation asks the current status first (``can_start()`` ...) and raises
:class:`~minicontainer.errors.StateError` with Docker's wording when it may not proceed.
"""

from __future__ import annotations

from enum import Enum

from ..errors import StateError


class Status(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    EXITED = "exited"
    DEAD = "dead"

    def can_start(self) -> bool:
        return self in (Status.CREATED, Status.EXITED)

    def can_kill(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED)

    def can_pause(self) -> bool:
        return self is Status.RUNNING

    def can_unpause(self) -> bool:
        return self is Status.PAUSED

    def can_exec(self) -> bool:
        return self is Status.RUNNING

    def can_remove(self, force: bool = False) -> bool:
        return force or self not in (Status.RUNNING, Status.PAUSED)


def require(status: Status, op: str, name: str, *, force: bool = False) -> None:
    """Raise StateError unless ``op`` is allowed in ``status``."""
    checks = {
        "start": status.can_start, "kill": status.can_kill, "stop": status.can_kill,
        "pause": status.can_pause, "unpause": status.can_unpause, "exec": status.can_exec,
        "remove": lambda: status.can_remove(force),
    }
    if op not in checks:
        raise StateError(f"unknown operation {op!r}", op=op)
    if not checks[op]():
        if op == "remove":
            msg = f"cannot remove container {name}: container is {status.value}: stop the container before removing or use -f"
        else:
            msg = f"container {name} is {status.value}"
        raise StateError(msg, op=op)

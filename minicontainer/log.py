"""The runtime's debug log: one channel, on stderr, off unless asked for.

A runtime tolerates some failures on purpose: a cleanup step whose object is already gone,
a process that exited before it could be signalled. Tolerated is not invisible: every such
failure is recorded here (what was being done, on what, and the error), so that
``minicontainer --log-level debug ...`` (as ``dockerd --log-level`` / ``podman --log-level``)
shows it. The level can also come from ``$MINICONTAINER_LOG_LEVEL``.

Loggers are the standard library's :mod:`logging`, named under ``minicontainer``
(``minicontainer.runtime``, ``minicontainer.network`` ...): an application embedding the
library (the engine, a notebook, pytest's ``caplog``) configures them as usual.

Importing :mod:`logging` costs a few milliseconds, and the container start path must stay
cheap, so this module does not import it until it is needed: when a level is configured, or
when a failure is recorded while :mod:`logging` is already loaded (somebody may be listening).
A debug record made while nobody has loaded :mod:`logging` could reach no handler anyway,
so it is dropped without the import. Warnings and errors always go through :mod:`logging`.

Output is logfmt, as dockerd and podman write it::

    time="2026-12-03T09:30:00Z" level=debug logger=minicontainer.runtime msg="remove cgroup: /sys/...: busy"
"""

from __future__ import annotations

import os
import sys

from .errors import UsageError

ENV = "MINICONTAINER_LOG_LEVEL"
ROOT = "minicontainer"
LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "fatal": 50, "panic": 50}
_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "fatal"}

_handler = None      # the stderr handler configure() installed, if any


def parse_level(text: str) -> int:
    """``debug|info|warn|error`` (dockerd's spelling; ``warning``/``fatal`` too) to a logging level."""
    try:
        return LEVELS[text.strip().lower()]
    except KeyError:
        raise UsageError(f"invalid log level {text!r}: want one of debug, info, warn, error",
                         op="log-level") from None


def configure(level: str | None = None, stream=None) -> int | None:
    """Send the ``minicontainer`` loggers at ``level`` and above to ``stream`` (stderr).

    ``level`` None reads ``$MINICONTAINER_LOG_LEVEL``; neither set: nothing is configured and
    :mod:`logging` is not imported. Calling it again replaces the previous handler. The level is
    exported in the environment so helper processes (the reaper) log alike.
    """
    global _handler
    text = level if level is not None else os.environ.get(ENV)
    if not text:
        return None
    number = parse_level(text)
    import logging
    logger = logging.getLogger(ROOT)
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    _handler.setFormatter(_Logfmt())
    logger.addHandler(_handler)
    logger.setLevel(number)
    logger.propagate = False
    os.environ[ENV] = _NAMES[number]
    return number


def get(name: str = ""):
    """The logger ``minicontainer.<name>`` (imports :mod:`logging`)."""
    import logging
    return logging.getLogger(f"{ROOT}.{name}" if name else ROOT)


def _listening() -> bool:
    return "logging" in sys.modules


def debug(name: str, msg: str, *args) -> None:
    """A debug line, if anybody can hear it (see the module docstring)."""
    if _listening():
        get(name).debug(msg, *args)


def warn(name: str, msg: str, *args) -> None:
    get(name).warning(msg, *args)


def swallowed(name: str, op: str, err: BaseException, path=None) -> None:
    """Record a failure the caller tolerates: ``op`` (what failed), ``path`` (on what), ``err``.

    The record carries them as attributes too (``record.op``, ``record.path``, ``record.error``).
    """
    if not _listening():
        return
    where = os.fspath(path) if path is not None else getattr(err, "path", None) or getattr(err, "filename", None)
    text = str(err) or type(err).__name__
    message = f"{op}: {where}: {text}" if where else f"{op}: {text}"
    get(name).debug("%s (tolerated)", message,
                    extra={"op": op, "path": None if where is None else os.fspath(where), "error": text})


class _Logfmt:
    """Formatter for ``time="..." level=... logger=... msg="..."`` lines (built on first use)."""

    def format(self, record) -> str:
        import time
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        stamp += f".{int(record.msecs):03d}Z"
        msg = record.getMessage().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        level = _NAMES.get(record.levelno, record.levelname.lower())
        return f'time="{stamp}" level={level} logger={record.name} msg="{msg}"'

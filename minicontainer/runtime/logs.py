"""Reading a container's log: Docker's json-file format, one JSON object per output line.

The monitor (mc-monitor) appends ``{"log": "text\\n", "stream": "stdout", "time": "..."}``
for each line the container writes; ``logs`` filters by time (``--since``), keeps the
last N (``--tail``) and, with ``--follow``, keeps reading as the file grows until the
container has exited.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from pathlib import Path

from ..errors import UsageError

LOG_FILE = "container.log"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


def parse_since(text: str, now: float | None = None) -> float:
    """A UNIX time from ``10s``/``5m``/``1h`` (ago), an RFC 3339 time, or a UNIX timestamp."""
    now = time.time() if now is None else now
    m = _DURATION.match(text.strip())
    if m:
        scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return now - float(m.group(1)) * scale
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return to_epoch(text)
    except ValueError:
        raise UsageError(f"invalid --since value {text!r} (10s, 5m, 2006-01-02T15:04:05Z)", op="logs") from None


def to_epoch(stamp: str) -> float:
    """RFC 3339 UTC time with optional nanoseconds -> seconds since the epoch."""
    import calendar
    stamp = stamp.strip().rstrip("Z")
    main, _, frac = stamp.partition(".")
    fmt = "%Y-%m-%dT%H:%M:%S" if "T" in main else "%Y-%m-%d"
    if "T" in main and main.count(":") == 1:
        fmt = "%Y-%m-%dT%H:%M"
    base = calendar.timegm(time.strptime(main, fmt))
    return base + (float("0." + frac) if frac else 0.0)


def _parse(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and "log" in rec else None


def read_log(container_dir: Path, since: float | None = None, tail: int | None = None) -> list[dict]:
    path = Path(container_dir) / LOG_FILE
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    out = deque(maxlen=tail) if tail is not None else []
    for line in lines:
        rec = _parse(line)
        if rec is None:
            continue
        if since is not None and to_epoch(rec["time"]) < since:
            continue
        out.append(rec)
    return list(out)


def follow(rt, c, since: float | None = None, tail: int | None = None, poll: float = 0.1, stop=None):
    """Yield the existing records, then new ones as they come, until the container has exited
    (or ``stop()`` is true: a reader that went away)."""
    from .lifecycle import GONE
    from .state import Status
    path = c.dir / LOG_FILE
    yield from read_log(c.dir, since, tail)
    offset = path.stat().st_size if path.exists() else 0
    pending = ""
    while True:
        try:
            now = rt.refresh(rt.containers.load(c.id))
            running = now.state in (Status.RUNNING, Status.PAUSED)
        except GONE as err:  # removed: nothing more will come
            from .. import log
            log.swallowed("runtime", f"follow the log of {c.id[:12]}", err)
            running = False
        if path.exists() and path.stat().st_size > offset:
            with open(path, errors="replace") as f:
                f.seek(offset)
                chunk = f.read()
                offset = f.tell()
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                rec = _parse(line)
                if rec is not None:
                    yield rec
            continue
        if not running or (stop is not None and stop()):
            return
        time.sleep(poll)

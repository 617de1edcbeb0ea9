"""``docker ps``'s view of containers, for every front end: its filters and its Status text.

The CLI's ``ps`` and the Engine API's ``GET /containers/json`` list the same records the
same way, so both take these from here: the filter keys Docker's ps knows (status, name,
id, ancestor, exited, label; values of one key are alternatives, different keys must all
hold, see :mod:`minicontainer.filters`) and the human Status column ("Up 3 seconds",
"Exited (0) 2 minutes ago"), which the API returns as it is. It imports nothing of the
runtime, so the engine's thin client can format with it too.
"""

from __future__ import annotations

import re

from . import filters as shared
from .errors import UsageError

FILTERS = ("status", "name", "id", "ancestor", "exited", "label")


def ago(seconds: float) -> str:
    """Docker's relative times: "3 seconds", "About a minute", "2 hours"."""
    s = int(max(0, seconds))
    if s < 1:
        return "Less than a second"
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    if s < 120:
        return "About a minute"
    if s < 3600:
        return f"{s // 60} minutes"
    if s < 7200:
        return "About an hour"
    if s < 86400 * 2:
        return f"{s // 3600} hours"
    return f"{s // 86400} days"


def status_text(c, now: float) -> str:
    """The Status column of ``docker ps`` for record ``c`` (refreshed by the caller)."""
    st = c.state.value
    if st == "running":
        return f"Up {ago(now - c.started_at)}"
    if st == "paused":
        return f"Up {ago(now - c.started_at)} (Paused)"
    if st == "exited":
        return f"Exited ({c.exit_code}) {ago(now - c.finished_at)} ago"
    if st == "dead":
        return "Dead"
    return "Created"


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` items, checked: an unknown key, status or a non-numeric exit code is an error."""
    from .runtime.state import Status      # (the callers have the runtime loaded; the thin client never parses)
    out = shared.parse(items, FILTERS, "ps")
    for value in out.get("status", []):
        if value not in [s.value for s in Status] + ["restarting", "removing"]:
            raise UsageError(f"invalid filter 'status={value}'", op="ps")
    for value in out.get("exited", []):
        if not value.lstrip("-").isdigit():
            raise UsageError(f"invalid filter 'exited={value}': an exit code is a number", op="ps")
    return out


def matches(c, filters: dict[str, list[str]]) -> bool:
    """Docker's rule: values of one key are alternatives, different keys must all match."""
    tests = {
        "status": lambda v: c.state.value == v,
        "name": lambda v: re.search(v, c.name) is not None,
        "id": lambda v: c.id.startswith(v),
        "ancestor": lambda v: v in (c.image, c.image_id, c.image_id.split(":")[-1][:len(v)]) or
        (":" not in v and c.image.split(":")[0] == v),
        "exited": lambda v: c.state.value == "exited" and c.exit_code == int(v),
    }
    return all(shared.labels_match(c.config.get("labels"), values) if key == "label" else
               any(tests[key](v) for v in values) for key, values in filters.items())

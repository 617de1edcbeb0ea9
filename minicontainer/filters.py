"""Docker's list filters, the parts every listing shares (``--filter KEY=VALUE``, the API's
``filters`` JSON): the flags parsed against the keys a listing knows, ``label`` matching, and
boolean values. Docker's rule: values of one key are alternatives, different keys must all
hold, except ``label``: every label given must hold.
"""

from __future__ import annotations

from .errors import UsageError


def parse(items: list[str], allowed: tuple[str, ...], op: str) -> dict[str, list[str]]:
    """``["dangling=true", "label=a"]`` -> ``{"dangling": ["true"], "label": ["a"]}``; a key the
    listing does not know is an error naming the ones it does."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f"invalid filter {item!r} (use one of: {', '.join(k + '=' for k in allowed)})", op=op)
        out.setdefault(key, []).append(value)
    return out


def labels_match(labels: dict | None, wanted: list[str]) -> bool:
    """Every ``KEY`` (present) or ``KEY=VALUE`` (equal) in ``wanted`` holds for ``labels``."""
    labels = labels or {}
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def boolean(filters: dict[str, list[str]], key: str, op: str) -> bool | None:
    """The value of a true/false filter (``dangling=true``), None when it is not given."""
    if not filters.get(key):
        return None
    text = filters[key][-1].lower()
    if text not in ("true", "false", "1", "0"):
        raise UsageError(f"invalid filter '{key}={filters[key][-1]}': true or false", op=op)
    return text in ("true", "1")

"""Sizes as people write them (``64m``, ``1g``), read the way Docker reads them.

Kept apart from the cgroup code so that a client which only turns flags into an API
request (:mod:`minicontainer.cli.remote`) can read ``-m 64m`` without importing the
runtime. Units are powers of 1024: b, k, m, g, t (``64m`` = 64 MiB), as in docker-run(1).
"""

from __future__ import annotations

import re

from .errors import UsageError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)(?:i?b)?$", re.IGNORECASE)


def parse_size(text: str, what: str = "size") -> int:
    """``"64m"`` -> 67108864. Units b, k, m, g, t (powers of 1024), as Docker reads them."""
    match = _SIZE_RE.match(str(text).strip())
    if not match:
        raise UsageError(f"invalid {what} {text!r}: expected a number of bytes with an optional unit "
                         "b, k, m, g (e.g. 64m, 1g)", op="parse")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])

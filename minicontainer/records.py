"""Reading the small JSON records every store keeps (containers, volumes, networks, ...).

A record that does not exist is an ordinary answer ("no such container"), which each
store words its own way; a record that exists but cannot be read or parsed is damage,
reported as one error naming the file. This module draws that line once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import MiniContainerError


def read_json(path: os.PathLike | str, failure: str, error: type[MiniContainerError] = MiniContainerError,
              op: str = "read"):
    """The JSON document in ``path``, or None when there is no such file. Any other failure
    (unreadable, not JSON) raises ``error("<failure>: <reason>")`` carrying ``op`` and ``path``."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise error(f"{failure}: {err}", op=op, path=path) from err

"""``python -m vmcompare.timer``: build build/timer/mc-timer when missing or stale (``make`` runs this)."""

import sys

from minicontainer.errors import MiniContainerError
from . import ensure, path, _fresh

if __name__ == "__main__":
    fresh = _fresh(path())
    try:
        built = ensure()
    except MiniContainerError as err:
        print(f"vmcompare: {err.message}", file=sys.stderr)
        sys.exit(1)
    if not fresh:
        print(f"built {built}")

"""A one-line progress bar on stderr, shown only when stderr is a terminal.

Loading or saving a big image takes seconds; a bar says the program is alive. When
stderr is a file or a pipe (CI logs, tests, notebooks) nothing is printed, so logs stay
readable. isatty(3) is the test, as GNU tools do it.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress(total, "loading")``; call it with a byte count; ``close()`` at the end."""

    def __init__(self, total: int, label: str, stream=None, *, force: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.total = max(1, total)
        self.label = label
        self.done = 0
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or self.done >= self.total:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        frac = min(1.0, self.done / self.total)
        width = 30
        bar = "=" * int(frac * width)
        self.stream.write(f"\r{self.label} [{bar:<{width}}] {frac * 100:5.1f}% {self.done / 1e6:8.1f} MB")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

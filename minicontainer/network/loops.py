"""pyroute2 0.9 drives rtnetlink through its own asyncio event loop, so it cannot be used
from a thread whose loop is already running — which is exactly the case inside a Jupyter
kernel ("This event loop is already running"). :func:`off_event_loop` runs such a call in a
short-lived worker thread when, and only when, the caller's thread has a running loop."""

from __future__ import annotations

import functools
import threading


def _loop_running() -> bool:
    import sys
    if "asyncio" not in sys.modules:
        return False
    import asyncio
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def off_event_loop(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _loop_running():
            return fn(*args, **kwargs)
        box: dict = {}

        def work():
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as err:  # re-raised in the caller's thread
                box["error"] = err

        thread = threading.Thread(target=work, name=f"pyroute2-{fn.__name__}")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")
    return wrapper

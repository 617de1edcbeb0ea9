"""What a path inside a container is (``docker cp``'s first question), without copying it.

``docker cp`` asks the engine about the far end before it copies: is the destination an
existing directory (copy *into* it) or not (copy *as* it)? The answer is an lstat(2) of
the path resolved inside the container's root, the same root :mod:`.copy` uses: the
running container's ``/proc/PID/root``, or its overlay mounted again in a private mount
namespace once it has stopped.
"""

from __future__ import annotations

import os
import stat

from ..errors import NotFoundError
from ..rootfs import resolve_in_root
from .state import Status


def stat_in(rt, ref: str, inside: str) -> dict:
    """``{"name", "size", "mode", "mtime", "linkTarget"}`` of ``inside`` (NotFoundError if absent);
    ``mode`` is st_mode, ``mtime`` seconds since the epoch."""
    from .copy import in_private_overlay
    c = rt.refresh(rt.containers.get(ref))
    path = inside or "/"

    def job(root: str) -> dict:
        full = resolve_in_root(root, path)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            raise NotFoundError(f"could not find the file {path} in container {c.name}", op="stat") from None
        link = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ""
        return {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": st.st_mode,
                "mtime": st.st_mtime, "linkTarget": link}
    if c.state in (Status.RUNNING, Status.PAUSED):
        return job(str(rt.proc_root / str(c.pid) / "root"))
    with rt.containers.lock(c):
        return in_private_overlay(rt, c, job)

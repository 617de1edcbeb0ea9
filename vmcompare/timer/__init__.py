"""mc-timer: the one static binary that times the overhead workloads in every environment.

``mc-timer.c`` (beside this file) runs a fixed amount of work (an integer mixing loop, a
memory pass over 64 MiB, ``getppid(2)`` calls, or a command it forks and execs) and prints
the elapsed time from ``clock_gettime(CLOCK_MONOTONIC)`` and the CPU time from
``CLOCK_PROCESS_CPUTIME_ID`` in nanoseconds (clock_gettime(2)). It is linked statically
(``cc -static``), so the same file runs on the host, in a container whose image has no C
library of its own (bind-mounted read-only) and in the VM's busybox initramfs: same code,
same clock, three environments.

``make`` builds it into ``build/timer/mc-timer`` through ``python -m vmcompare.timer``;
:func:`binary` finds it and refuses a stale or missing one with the command that builds it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from minicontainer.paths import project_build_dir

from ..errors import NotFoundError

SOURCE = Path(__file__).resolve().parent / "mc-timer.c"
NAME = "mc-timer"
CONTAINER_DIR = "/opt/mc-timer"          # where the container sees build/timer/ (bind mount, read-only)
GUEST_PATH = "/bin/mc-timer"             # where the initramfs carries it


def path(build_dir: Path | None = None) -> Path:
    return (build_dir or project_build_dir()) / "timer" / NAME


def shown(text) -> str:
    """``text`` with this checkout's folder left out (``build/timer/mc-timer``): labels end up in
    recorded results that other machines read, and where a checkout lives is nobody's business."""
    root = str(project_build_dir().parent) + "/"
    return str(text).replace(root, "")


def _fresh(p: Path) -> bool:
    try:
        return p.stat().st_mtime >= SOURCE.stat().st_mtime and os.access(p, os.X_OK)
    except OSError:
        return False


def build(build_dir: Path | None = None, cc: str | None = None) -> Path:
    """Compile mc-timer.c statically into ``build/timer/`` (atomically: a temporary file, then rename)."""
    out = path(build_dir)
    cc = cc or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise NotFoundError("no C compiler to build mc-timer (apt-get install gcc libc6-dev)", op="build timer",
                            path=SOURCE)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{NAME}.tmp{os.getpid()}")
    try:
        done = subprocess.run([cc, "-static", "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise NotFoundError(f"cc -static failed: {done.stderr.strip()[-300:]}", op="build timer", path=SOURCE)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def binary(build_dir: Path | None = None) -> Path:
    """The built timer, not older than its source; else a clear error naming the fix."""
    p = path(build_dir)
    if not _fresh(p):
        raise NotFoundError(f"{p} is missing or older than {SOURCE.name} (run make, or python -m vmcompare.timer)",
                            op="find timer", path=p)
    return p


def ensure(build_dir: Path | None = None) -> Path:
    """The timer, built first when it is missing or stale (what ``make`` runs)."""
    p = path(build_dir)
    return p if _fresh(p) else build(build_dir)

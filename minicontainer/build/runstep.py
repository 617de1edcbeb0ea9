"""RUN: execute a command in a real container, then keep what it wrote.

This is the article's "a build is running a step in a container, then committing its
diff", literally:

1. create a container from the image built so far (the parent), on the build's network
   (``build --network``; as with Docker, the default bridge: ``RUN apt-get update`` reaches
   the outside through its NAT), with the step's ENV, WORKDIR and USER;
2. run it attached, its output streamed to the build output (the last lines are kept
   for the error message when it fails);
3. everything the command wrote is now in the container's overlay *upper directory*
   (overlayfs copies a file up on first write and records deletions as whiteouts), so
   that directory, tarred, is the new layer (:func:`minicontainer.images.commit.layer_from_dir`);
4. remove the container, whatever happened.

The runtime creates mount points it needs (``/proc``, ``/sys``, ``/dev``, the files it
binds over ``/etc/hosts`` and ``/etc/hostname``) in the upper directory when the image
lacks them; :func:`drop_runtime_artifacts` takes those back out (when still empty), or
every image built ``FROM scratch`` would grow them. See overlayfs.rst and docker-build(1).
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import threading
from pathlib import Path

from .. import log
from ..errors import MiniContainerError
from ..images.changes import in_lower

#: what the runtime may create in the upper dir as mount points (see minicontainer.rootfs)
RUNTIME_MOUNT_POINTS = ("proc", "sys", "dev", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc")
TAIL_LINES = 10


class BuildStepError(MiniContainerError):
    """A build step failed (a RUN exited non-zero, or its container could not start)."""

    exit_code = 1


@contextlib.contextmanager
def step_container(runtime, image_id: str, argv: list[str], *, env: list[str], workdir: str, user: str = "",
                   volumes: list[str] | None = None, network: str = "bridge"):
    """A created (not started) container for one RUN step, as the image's USER; removed on the
    way out, always. ``volumes`` are ``-v`` specs (a ``#!`` here-document's directory);
    ``network`` is ``build --network`` (Docker's default: the default bridge, with outbound NAT)."""
    from ..runtime.options import RunOptions
    opts = RunOptions(image=image_id, command=argv, env=env, workdir=workdir or "/", network=network,
                      init=True, rm=False, user=user or "0", volumes=list(volumes or []))
    c = runtime.create(opts)
    try:
        yield c
    finally:
        try:
            runtime.remove(c.id, force=True)
        except MiniContainerError as err:   # the step's own outcome is what the build reports
            log.swallowed("build", "remove the step's container", err, c.id)


def run_attached(runtime, container, emit, tail: int = TAIL_LINES) -> tuple[int, list[str]]:
    """Start ``container`` and wait; its stdout and stderr go to ``emit(text)`` as they come.

    Returns (exit code, its last ``tail`` output lines)."""
    last: collections.deque[str] = collections.deque(maxlen=tail)
    read_fd, write_fd = os.pipe()
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    reader = threading.Thread(target=_pump, args=(read_fd, emit, last), name="build-output", daemon=True)
    reader.start()
    try:
        try:
            result = runtime.start(container.id, attach=True, stdin=devnull, stdout=write_fd, stderr=write_fd)
            code = result.exit_code
        finally:
            os.close(write_fd)          # the reader sees end-of-file once the container's copies are gone too
            reader.join(timeout=30)
    finally:
        os.close(devnull)
    return code, list(last)


def _pump(fd: int, emit, last) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial = ""
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            text = decoder.decode(data)
            emit(text)
            lines = (partial + text).split("\n")
            partial = lines.pop()
            last.extend(lines)
        if partial:
            last.append(partial)
    finally:
        os.close(fd)


def drop_runtime_artifacts(upper: Path, layers_top_first: list[Path]) -> None:
    """Remove mount points the runtime created in ``upper`` that the image did not have (if empty),
    and a directory overlayfs only copied up to hold one (``/etc`` for a new ``/etc/resolv.conf``)."""
    for rel in RUNTIME_MOUNT_POINTS:
        path = upper / rel
        parts = tuple(rel.split("/"))
        if not os.path.lexists(path):
            continue
        if in_lower(layers_top_first, parts):
            if rel == "etc":                  # the parent of the files bound above, copied up for them
                _drop_bare_copy_up(path, layers_top_first, parts)
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()            # only when empty
            elif path.is_file() and path.stat().st_size == 0:
                path.unlink()


def _drop_bare_copy_up(path: Path, layers_top_first: list[Path], parts: tuple) -> None:
    """An upper directory that is empty, not opaque, and owned and moded as the lower one it
    shadows adds nothing to the layer: it is left from a mount point removed above."""
    if path.is_symlink() or not path.is_dir() or any(os.scandir(path)):
        return
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False):
                return
    lower = next((layer.joinpath(*parts) for layer in layers_top_first if layer.joinpath(*parts).is_dir()), None)
    if lower is None:
        return
    a, b = path.lstat(), lower.lstat()
    if (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid):
        with contextlib.suppress(OSError):
            path.rmdir()

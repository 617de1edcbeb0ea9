"""A container's files over the API: changes, export, and the archive endpoints of ``docker cp``.

``docker cp`` moves tar streams: ``GET /containers/ID/archive?path=P`` answers with a tar
of P (and its lstat in the ``X-Docker-Container-Path-Stat`` header: base64 of a JSON
object whose ``mode`` is Go's ``os.FileMode``, type bits high), ``HEAD`` with the header
alone, and ``PUT`` extracts an uploaded tar into the directory P. The copying itself is
the library's (:mod:`minicontainer.runtime.copy`), through a temporary directory.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tarfile
import tempfile
from pathlib import Path

from ..files import discard_tree
from ..errors import UsageError
from ..runtime.inspect import rfc3339
from .routes import Response, json_response, no_content, raw_stream, route

# Go's os.FileMode type bits
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_SETUID, GO_SETGID, GO_CHARDEV, GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20
ARCHIVE_MAX = 4 * 1024 ** 3


def go_mode(mode: int) -> int:
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: GO_DIR, stat.S_IFLNK: GO_SYMLINK, stat.S_IFIFO: GO_PIPE, stat.S_IFSOCK: GO_SOCKET,
            stat.S_IFBLK: GO_DEVICE, stat.S_IFCHR: GO_DEVICE | GO_CHARDEV}.get(kind, 0)
    for bit, go in ((stat.S_ISUID, GO_SETUID), (stat.S_ISGID, GO_SETGID), (stat.S_ISVTX, GO_STICKY)):
        if mode & bit:
            out |= go
    return out


def _container(req):
    rt = req.engine.runtime
    return rt, rt.refresh(rt.containers.get(req.params["id"]))


def _path(req) -> str:
    path = req.arg("path")
    if not path:
        raise UsageError("a path is required (?path=)", op="archive")
    return path


def _stat_header(rt, c, path: str) -> dict:
    from ..runtime.pathstat import stat_in
    st = stat_in(rt, c.id, path)
    doc = {"name": st["name"], "size": st["size"], "mode": go_mode(st["mode"]), "mtime": rfc3339(st["mtime"]),
           "linkTarget": st["linkTarget"]}
    return {"X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(doc).encode()).decode()}


@route("HEAD", "/containers/{id}/archive")
def archive_head(req):
    rt, c = _container(req)
    return Response(200, _stat_header(rt, c, _path(req)) | {"Content-Length": "0"}, b"")


def _file_chunks(path: str, cleanup: str):
    try:
        with open(path, "rb") as f:
            while chunk := f.read(256 * 1024):
                yield chunk
    finally:
        discard_tree(cleanup, "engine")


@route("GET", "/containers/{id}/archive")
def archive_get(req):
    from ..runtime.copy import copy
    rt, c = _container(req)
    path = _path(req)
    header = _stat_header(rt, c, path)
    work = tempfile.mkdtemp(prefix="mc-archive-")
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        copy(rt, f"{c.id}:{path}", out)
        tar_path = os.path.join(work, "archive.tar")
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(out)):
                tar.add(os.path.join(out, entry), arcname=entry)
    except BaseException:
        discard_tree(work, "engine")
        raise
    return raw_stream(_file_chunks(tar_path, work), "application/x-tar", header)


def _safe_members(tar: tarfile.TarFile):
    """Regular files, directories and links with relative names that stay inside (no ``..``)."""
    for m in tar:
        name = os.path.normpath(m.name)
        if name.startswith(("/", "..")) or "/../" in f"/{name}/":
            raise UsageError(f"refusing archive member {m.name!r}: it leaves the destination", op="archive")
        if m.islnk() and (os.path.normpath(m.linkname).startswith(("/", ".."))):
            raise UsageError(f"refusing hard link {m.name!r} to {m.linkname!r}", op="archive")
        if m.isreg() or m.isdir() or m.issym() or m.islnk():
            yield m


@route("PUT", "/containers/{id}/archive", max_body=ARCHIVE_MAX)
def archive_put(req):
    from ..runtime.copy import copy
    from ..runtime.pathstat import stat_in
    rt, c = _container(req)
    path = _path(req)
    if not stat.S_ISDIR(stat_in(rt, c.id, path)["mode"]):
        raise UsageError(f"extraction point is not a directory: {path}", op="archive")
    work = tempfile.mkdtemp(prefix="mc-archive-")
    try:
        try:
            with tarfile.open(fileobj=req.stream(), mode="r|*") as tar:
                for m in _safe_members(tar):
                    tar.extract(m, work, set_attrs=True)
        except tarfile.TarError as err:
            raise UsageError(f"not a valid tar archive: {err}", op="archive") from err
        for entry in sorted(os.listdir(work)):
            copy(rt, os.path.join(work, entry), f"{c.id}:{path.rstrip('/') or '/'}/")
    finally:
        discard_tree(work, "engine")
    return no_content(200)


@route("GET", "/containers/{id}/changes")
def changes(req):
    from ..images.changes import diff
    rt, c = _container(req)
    kinds = {"C": 0, "A": 1, "D": 2}
    image = rt.images().resolve(c.image_id)
    return json_response([{"Path": path, "Kind": kinds.get(kind, 0)} for kind, path in diff(c.upper_dir,
                                                                                          image.layer_dirs)])


@route("GET", "/containers/{id}/export")
def export(req):
    from ..images import archive
    rt, c = _container(req)
    store = rt.images()
    work = tempfile.mkdtemp(prefix="mc-export-")
    try:
        out = os.path.join(work, "export.tar")
        archive.export(store, store.resolve(c.image_id), c.upper_dir, Path(out))
    except BaseException:
        discard_tree(work, "engine")
        raise
    return raw_stream(_file_chunks(out, work), "application/x-tar")

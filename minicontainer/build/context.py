"""The build context: the directory COPY and ADD read from, minus ``.dockerignore``.

``minicontainer build DIR`` may only copy files from ``DIR`` (the *context*): a source
that names a path outside it (``../secret``, or a symlink pointing out) is refused, so a
Dockerfile cannot read the builder's whole disk. ``.dockerignore`` in the context root
lists patterns of paths to leave out, one per line (``#`` comments)::

    *.log           any .log file at the top
    **/*.tmp        a .tmp file at any depth
    build/          a directory and everything under it
    !build/keep.txt an exception: ``!`` re-includes what an earlier pattern excluded

The last matching pattern wins; a pattern matching a directory also excludes all it
contains. ``*`` and ``?`` never match ``/``; ``**`` matches any number of directories.

The layer cache needs to know whether copied files changed: :func:`content_hash` hashes
the relative names, types, permission bits and bytes of everything a COPY would copy
(not the modification times, so touching a file does not invalidate the cache).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
import stat
from pathlib import Path

from ..errors import UsageError

IGNORE_FILE = ".dockerignore"


def _pattern_regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise UsageError(f"bad pattern in {IGNORE_FILE}: {pattern!r}", op="build")
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end + 1
            continue
        elif ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$")


class IgnoreRules:
    """Compiled ``.dockerignore`` patterns, asked one relative path at a time."""

    def __init__(self, lines: list[str]):
        self.rules: list[tuple[bool, re.Pattern]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = posixpath.normpath(line.lstrip("/")) if line.strip("/") else ""
            if not line or line == ".":
                continue
            self.rules.append((negate, _pattern_regex(line)))

    @classmethod
    def load(cls, context: Path) -> "IgnoreRules":
        path = Path(context) / IGNORE_FILE
        try:
            return cls(path.read_text().splitlines())
        except FileNotFoundError:
            return cls([])
        except OSError as err:
            raise UsageError(f"cannot read {IGNORE_FILE}: {err.strerror.lower()}", op="build", path=path) from err

    @property
    def has_exceptions(self) -> bool:
        return any(negate for negate, _ in self.rules)

    def excluded(self, rel: str) -> bool:
        """Is ``rel`` (relative, ``/``-separated) left out of the context?"""
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        verdict = False
        for negate, rx in self.rules:
            if any(rx.match(p) for p in prefixes):
                verdict = not negate
        return verdict


class BuildContext:
    """The context directory and its ignore rules; sources are resolved inside it."""

    def __init__(self, root, ignore: IgnoreRules | None = None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise UsageError("the build context is not a directory", op="build", path=root)
        self.ignore = ignore if ignore is not None else IgnoreRules.load(self.root)

    def sources(self, pattern: str, what: str = "COPY") -> list[str]:
        """Relative names matching ``pattern`` (a path or a glob), checked to stay in the context."""
        norm = posixpath.normpath(pattern.lstrip("/") or ".")
        if norm == ".." or norm.startswith("../"):
            raise UsageError(f"forbidden path outside the build context: {pattern}", op=what)
        if norm == ".":
            return [""]
        if any(c in norm for c in "*?["):
            found = [rel for rel in self._walk("") if rel.count("/") == norm.count("/")
                     and fnmatch.fnmatchcase(rel, norm)]
            if not found:
                raise UsageError(f"no source files were specified (nothing matches {pattern!r})", op=what)
            return found
        if not os.path.lexists(self.root / norm) or self.ignore.excluded(norm):
            raise UsageError(f"file not found in build context or excluded by {IGNORE_FILE}: {pattern}", op=what)
        if not _inside(self.root, norm):
            raise UsageError(f"forbidden path outside the build context: {pattern}", op=what)
        return [norm]

    def _walk(self, rel: str):
        base = self.root / rel if rel else self.root
        for entry in sorted(os.scandir(base), key=lambda e: e.name):
            child = f"{rel}/{entry.name}" if rel else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if self.ignore.excluded(child):
                # an excluded directory is still searched when a "!" exception may re-include
                # something in it; the directory itself then comes along as that entry's parent
                if is_dir and self.ignore.has_exceptions:
                    inside = list(self._walk(child))
                    if inside:
                        yield child
                        yield from inside
                continue
            yield child
            if is_dir:
                yield from self._walk(child)

    def entries(self, rel: str):
        """``("", top)`` for the source ``rel``, then ``(sub path, absolute path)`` for all a
        directory holds (ignored ones left out). A source that is itself a symlink is
        followed (it must stay inside the context); links below it are copied as links."""
        top = Path(os.path.realpath(self.root / rel if rel else self.root))
        real_rel = os.path.relpath(top, self.root)
        if not _inside(self.root, real_rel):
            raise UsageError(f"forbidden path outside the build context: {rel}", op="COPY")
        yield "", top
        if top.is_dir():
            start = "" if real_rel == "." else real_rel
            for child in self._walk(start):
                yield (child[len(start) + 1:] if start else child), self.root / child


def _inside(root: Path, rel: str) -> bool:
    real = os.path.realpath(os.path.join(root, rel))
    return real == str(root) or real.startswith(str(root) + os.sep)


def hash_tree(h, entries) -> None:
    """Feed (name, type, mode, content) of each (relative name, absolute path) into ``h``."""
    for rel, path in entries:
        st = os.stat(path) if rel == "" else os.lstat(path)
        h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(path).encode() + b"\0")
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\0")


def content_hash(ctx: BuildContext, sources: list[str]) -> str:
    """sha256 over everything the sources would copy (names, types, modes and bytes)."""
    h = hashlib.sha256()
    for src in sources:
        h.update(f"{src}\0".encode())
        hash_tree(h, ctx.entries(src))
    return "sha256:" + h.hexdigest()

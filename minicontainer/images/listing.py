"""Which images a listing shows: ``docker images [REPOSITORY[:TAG]] [--filter ...] [-a]``.

Docker's image filters (docker-images(1)), the same for the CLI and the Engine API:

- ``dangling=true|false``: images with no tag (``<none>:<none>``), or only tagged ones;
- ``label=KEY`` / ``label=KEY=VALUE``: the image config's labels;
- ``before=IMAGE`` / ``since=IMAGE``: created before/after that image;
- ``until=TIMESTAMP``: created no later than a time (RFC 3339, UNIX seconds, or a duration ago);
- ``reference=PATTERN``: a tag matching a glob, whole (``busy*:1.*``) or by repository only
  (``busy*``); ``*`` does not cross a ``/``, as in Go's path.Match. The positional
  ``REPOSITORY[:TAG]`` is one more reference filter. Only the matching tags are shown.

Values of one key are alternatives, different keys must all hold. Untagged images that are the
parent of another (a build's intermediate steps) are hidden unless ``all``, as Docker hides them.
The OCI config has no parent pointer, so the parent is read off the history (:func:`lineage`).
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import filters
from ..errors import UsageError

FILTERS = ("dangling", "label", "before", "since", "until", "reference")


def created_epoch(rfc3339: str) -> float:
    """``2026-12-03T09:00:00.123456789Z`` (any fraction, Z or an offset) -> UNIX seconds (0 if unknown)."""
    from datetime import datetime
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[-+]\d\d:\d\d)?$", (rfc3339 or "").strip())
    if not m:
        return 0.0
    zone = "+00:00" if m.group(3) in (None, "Z") else m.group(3)
    try:
        whole = datetime.fromisoformat(m.group(1) + zone).timestamp()
    except ValueError:
        return 0.0
    return whole + (float("0." + m.group(2)) if m.group(2) else 0.0)


def lineage(images) -> dict[str, str]:
    """image id -> parent id: the image with the longest history that is a strict prefix of this
    one's history, with layers to match (what the builder's intermediate images are)."""
    parents: dict[str, str] = {}
    for child in images:
        best = None
        for cand in images:
            steps = len(cand.history)
            if cand.id == child.id or not 0 < steps < len(child.history):
                continue
            if child.history[:steps] == cand.history and child.diff_ids[:len(cand.diff_ids)] == cand.diff_ids \
                    and (best is None or steps > len(best.history)):
                best = cand
        if best is not None:
            parents[child.id] = best.id
    return parents


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` flags to ``{key: [values]}``; an unknown key is an error, as in Docker."""
    return filters.parse(items, FILTERS, "images")


def glob_match(pattern: str, text: str) -> bool:
    """Go's path.Match: ``*`` and ``?`` stop at ``/``; ``[...]`` classes; ``\\`` escapes (the
    translation .dockerignore uses too)."""
    from ..build.context import _pattern_regex
    try:
        return _pattern_regex(pattern).match(text) is not None
    except UsageError:
        raise UsageError(f"invalid reference filter {pattern!r}: unclosed [", op="images") from None


def _reference_tags(tags: list[str], patterns: list[str]) -> list[str]:
    return [t for t in tags if any(glob_match(p, t) or glob_match(p, t.rpartition(":")[0]) for p in patterns)]


def select(store, wanted: dict[str, list[str]] | None = None, all_images: bool = False) -> list:
    """The store's images a listing shows, newest first; with a reference filter, each image's
    ``repo_tags`` are narrowed to the matching ones."""
    wanted = wanted or {}
    images = store.list()
    parents = lineage(images)
    has_children = set(parents.values())
    bounds = {key: created_epoch(store.resolve(wanted[key][-1]).created) for key in ("before", "since")
              if wanted.get(key)}
    until = None
    if wanted.get("until"):
        from ..events import parse_time
        ns = parse_time(wanted["until"][-1], op="images")
        until = None if ns is None else ns / 1e9
    dangling = filters.boolean(wanted, "dangling", "images")
    out = []
    for im in images:
        untagged, created = not im.repo_tags, created_epoch(im.created)
        if untagged and im.id in has_children and not all_images:
            continue
        if dangling is not None and untagged != dangling:
            continue
        if not filters.labels_match(im.config.get("Labels"), wanted.get("label", [])):
            continue
        if ("before" in bounds and created >= bounds["before"]) or ("since" in bounds and created <= bounds["since"]):
            continue
        if until is not None and created > until:
            continue
        if wanted.get("reference"):
            tags = _reference_tags(im.repo_tags, wanted["reference"])
            if not tags:
                continue
            im = replace(im, repo_tags=tags)
        out.append(im)
    return out

"""Commit: a container's upper directory becomes a new layer, and a new image.

This is the source article's central move in one function. The image a container
runs from is read-only; the container's writes all sit in its overlay upper directory.
``commit`` tars that directory (overlay whiteouts turned back into ``.wh.`` entries,
see :mod:`.whiteouts`), stores the tar by its digest, unpacks it once as a new shared
layer, and writes a new config that is the old one plus that layer's ``diff_id`` and a
``history`` line saying how it was made. The old image is untouched; the new one shares
every lower layer with it. See docker-commit(1) and the OCI image spec's config.md.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

from ..errors import ImageError
from .digest import HashingWriter
from .store import Image, ImageStore


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def layer_from_dir(store: ImageStore, src: Path, *, translate_overlay: bool = True) -> str:
    """Tar ``src`` into the store as a layer (blob + unpacked dir); returns its diff_id."""
    from .tarwriter import write_layer
    if not Path(src).is_dir():
        raise ImageError("no such directory", op="commit", path=src)
    with store.lock():
        tmp = store.staging("tar")
        try:
            with open(tmp, "wb") as f:
                out = HashingWriter(f)
                write_layer(src, out, translate_overlay=translate_overlay)
                f.flush()
                os.fsync(f.fileno())
            store.add_layer_file(tmp, out.digest)
        finally:
            if tmp.exists():
                tmp.unlink()
    return out.digest


def commit(store: ImageStore, image: Image, upper: Path, *, tags=(), created_by: str = "",
           comment: str = "", author: str = "", config_changes: dict | None = None) -> Image:
    """A new image = ``image`` + the layer made from ``upper``; tagged with ``tags``."""
    diff_id = layer_from_dir(store, upper, translate_overlay=True)
    cfg = copy.deepcopy(image.raw)
    created = now_rfc3339()
    cfg["created"] = created
    cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
    entry = {"created": created, "created_by": created_by or "minicontainer commit"}
    if comment:
        entry["comment"] = comment
    if author:
        entry["author"] = author
        cfg["author"] = author
    cfg.setdefault("history", []).append(entry)
    if config_changes:
        cfg.setdefault("config", {}).update(config_changes)
    layer_size = store.blob_path(diff_id).stat().st_size
    return store.add_image(cfg, tags, size=image.size + layer_size)

"""The layer cache: "have I already run this exact step on this exact parent?"

Every build step turns a parent image into a child image. If the same instruction was
applied to the same parent before, the child is already in the store and the step can
be skipped; that is the whole cache. The *key* of a step is a digest of

* the parent image ID (which, being the digest of the parent's config, pins every
  earlier layer and every earlier config change: the whole chain), or ``scratch``;
* the instruction as it will be executed (after ARG/ENV substitution; for RUN also the
  build arguments in force, since they are in the command's environment);
* for COPY and ADD, a digest of the copied files' names, modes and bytes
  (:func:`minicontainer.build.context.content_hash`): the text ``COPY app.py /app/``
  does not change when ``app.py`` does.

So one changed file changes the key of its COPY step; that step gets a new child ID,
which is the parent of the next step, whose key therefore changes too: everything from
that step on is rebuilt, everything before it is reused. RUN steps are assumed to be
deterministic (``RUN date`` is cached too, as in Docker; use ``--no-cache``).

On disk: ``<state root>/build/cache.json`` maps keys to image IDs, rewritten atomically
under an flock(2). An entry whose image was deleted (``rmi``, ``image prune``) is a miss.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..locks import locked
from ..errors import ImageError, MiniContainerError

CACHE_FILE = "cache.json"


def step_key(parent_id: str | None, instruction: str, content: str = "") -> str:
    """The cache key of one step (see the module docstring)."""
    blob = json.dumps([parent_id or "scratch", instruction, content], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


class BuildCache:
    """Keys -> image IDs under ``<state_root>/build``."""

    def __init__(self, state_root) -> None:
        self.dir = Path(state_root) / "build"
        self.path = self.dir / CACHE_FILE

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}      # a damaged cache only costs a rebuild
        return data if isinstance(data, dict) else {}

    def lookup(self, key: str, store) -> object | None:
        """The cached child image for ``key`` if it (and every layer of it) is still in ``store``."""
        image_id = self._read().get(key)
        if not image_id:
            return None
        try:
            image = store.resolve(image_id)
        except MiniContainerError:
            return None
        if not all(store.has_layer(d) for d in image.diff_ids):
            return None
        return image

    def _locked(self):
        return locked(self.dir / "lock", ImageError)

    def record(self, key: str, image_id: str) -> None:
        with self._locked():
            data = self._read()
            data[key] = image_id
            self._write(data)

    def _write(self, data: dict[str, str]) -> None:
        """Replace cache.json (call under the lock)."""
        from ..records import write_json
        write_json(self.path, data, "cannot write the build cache", ImageError, op="build cache")

    def entries(self) -> dict[str, str]:
        return self._read()

    def prune(self, store, *, everything: bool = False) -> list[str]:
        """Forget the entries whose image left ``store`` (all of them with ``everything``); their keys."""
        with self._locked():
            data = self._read()
            gone = [k for k, image_id in data.items() if everything or self.lookup(k, store) is None]
            if gone:
                for k in gone:
                    del data[k]
                self._write(data)
        return gone

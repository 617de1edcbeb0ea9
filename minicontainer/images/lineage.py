"""Which image a built image was built on, read off the history, and what that means for removal.

Docker keeps a *parent* pointer for every image its classic builder makes: each build step's
result is an image whose parent is the previous step's. An OCI image config has no such
field, but the history and the layers say the same thing: image P is the parent of image C
when C's history and layers begin with all of P's and C has exactly the steps P lacks on top.
(:func:`minicontainer.images.listing.lineage` reads it; ``docker images`` uses it too.)

Docker's rules that follow from it, applied here too:

* an untagged image that is some image's parent is an *intermediate* image: ``docker
  images`` hides it (``-a`` shows it) and ``image prune`` keeps it while its child is kept;
  an untagged image without children is *dangling*;
* ``rmi`` of an image also deletes its untagged parents that nothing else needs (no tag, no
  container, no other child), unless ``noprune``, so a build's intermediate images go away with
  the image they led to.
"""

from __future__ import annotations

from ..errors import NotFoundError
from .listing import lineage as parents


def kept_ancestors(images, in_use: dict[str, list[str]]) -> dict[str, list[str]]:
    """The untagged ancestors of tagged or used images, as an ``in_use`` map for ``ImageStore.prune``."""
    up = parents(images)
    keep: dict[str, list[str]] = {}
    for im in images:
        if im.repo_tags or im.id in in_use:
            node = up.get(im.id)
            while node is not None and node not in keep:
                keep[node] = ["(the parent of a kept image)"]
                node = up.get(node)
    return keep


def remove(store, ref: str, *, in_use: dict[str, list[str]], force: bool = False, prune: bool = True) -> list[str]:
    """``rmi``: :meth:`ImageStore.remove`, then (``prune``) the untagged parents nothing else needs."""
    before = store.list()
    up = parents(before)
    lines = store.remove(ref, in_use=in_use, force=force)
    deleted = {line.split(": ", 1)[1] for line in lines if line.startswith("Deleted: ")}
    if not prune:
        return lines
    node = next((up.get(i) for i in deleted if i in up), None)
    while node is not None:
        try:
            image = store.resolve(node)
        except NotFoundError:
            break
        children = [c for c, p in parents(store.list()).items() if p == node]
        if image.repo_tags or node in in_use or children:
            break
        lines += store.remove(node, in_use=in_use)
        node = up.get(node)
    return lines

"""``pull``: a published image into the local store, fetching only the layers it lacks.

The distribution API calls, in order (distribution spec, "Pull"):

1. ``GET /v2/<name>/manifests/<tag or digest>`` with ``Accept`` naming the four manifest
   types (:mod:`.manifests`); an index is narrowed to this platform's entry and that
   manifest fetched by digest;
2. ``GET /v2/<name>/blobs/<config digest>``: the image config, whose digest is the image
   ID and whose ``rootfs.diff_ids`` name each layer by its *uncompressed* digest;
3. for each layer the store does not hold yet, ``GET /v2/<name>/blobs/<layer digest>``.

Step 3 is the article's "images are stored as differences": a layer is known by its
diff_id before a byte of it is fetched, so a layer already in the store - pulled with
another image, or built here - is reported ``Already exists`` and not requested at all.

All or nothing: every layer is downloaded, verified (size, digest; then the diff_id while
it is unpacked) and unpacked into the store's staging area under the store lock; only
when all are good do they move into the store, and the tag is written last. A failure
leaves no blob, layer, tag or temporary file behind.

Progress is reported as Docker's JSON progress messages (``{"id", "status",
"progressDetail"}``) to a ``report`` callable, so the CLI and the engine share it.
"""

from __future__ import annotations

import contextlib
import json

from ..errors import ImageError
from ..images import spec
from ..images.archive import _stage_layer     # the loader's staging: unpack + diff_id check, nothing stored yet
from ..images.store import remove_tree
from . import auth, blobs, manifests
from .credentials import Credentials
from .transport import Session


def _quiet(event: dict) -> None:
    pass


def fetch_manifest(session, repository: str, reference: str, scope: str, *, digest=None, size=None):
    """``(document, kind, digest, media_type)`` of a verified manifest or index."""
    where = f"{session.domain}/{repository}:{reference}" if not reference.startswith("sha") else \
        f"{session.domain}/{repository}@{reference}"
    r = session.send("GET", f"/v2/{repository}/manifests/{reference}", scope=scope,
                     headers={"Accept": manifests.ACCEPT}, stream=True)
    body = manifests.read_capped(r, where)
    media_type = r.headers.get("content-type", "")
    doc, kind, got = manifests.verify(body, media_type, where, digest=digest, size=size,
                                      header_digest=r.headers.get("docker-content-digest"))
    return doc, kind, got, media_type.split(";", 1)[0].strip()


def resolve(session, ref, scope: str):
    """The image manifest for this platform: ``(manifest, manifest digest, media type)``."""
    doc, kind, digest, media_type = fetch_manifest(session, ref.repository, ref.manifest_ref, scope,
                                                   digest=ref.digest)
    top = digest
    for _ in range(3):                     # an index may point at another index
        if kind == "manifest":
            return doc, top, digest, media_type
        desc = manifests.choose(doc, f"{session.domain}/{ref.repository}@{digest}")
        doc, kind, digest, media_type = fetch_manifest(session, ref.repository, desc["digest"], scope,
                                                       digest=desc["digest"], size=desc["size"])
    raise ImageError("image indexes nested more than 3 deep", op="pull", path=str(ref))


def pull(store, ref_text: str, settings, *, report=_quiet, credentials=None, session=None):
    """Pull ``ref_text`` (resolved with ``settings``' default registry) into ``store``.
    Returns the :class:`~minicontainer.images.store.Image`."""
    ref = settings.reference(ref_text)
    creds = credentials if credentials is not None else Credentials(settings.config_dir).get(ref.domain)
    own = session is None
    session = session or Session(settings, ref.domain, creds)
    try:
        return _pull(store, ref, session, report)
    finally:
        if own:
            session.close()


def _pull(store, ref, session, report):
    scope = auth.scope_for(ref.repository, "pull")
    report({"status": f"Pulling from {ref.repository}", "id": ref.tag or ref.digest})
    manifest, top_digest, _, _ = resolve(session, ref, scope)
    layers = manifest["layers"]
    with store.lock():
        stage = store.staging("config")
        raw = blobs.fetch_small(session, ref.repository, manifest["config"], stage, scope=scope)
        where = f"{session.domain}/{ref.repository}@{manifest['config']['digest']}"
        try:
            diff_ids = spec.check_config(json.loads(raw), where, layers=len(layers), op="pull")
        except ValueError as err:
            raise ImageError(f"image config is not JSON: {err}", op="pull", path=where) from err
        previous = _tagged(store, ref.local_tag)
        staged: dict[str, tuple] = {}
        fetched: list[tuple[str, dict]] = []
        try:
            for layer, diff_id in zip(layers, diff_ids):
                short = layer["digest"][7:19]
                if diff_id in staged or store.has_layer(diff_id):
                    report({"id": short, "status": "Already exists"})
                    continue
                report({"id": short, "status": "Pulling fs layer"})
                staged[diff_id] = _fetch_layer(store, session, ref.repository, layer, diff_id, scope, report)
                fetched.append((diff_id, layer))
                report({"id": short, "status": "Pull complete"})
            for diff_id, (tar_copy, tree) in staged.items():
                store.add_layer_file(tar_copy, diff_id, unpacked=tree)
            image = store.add_image(raw, [ref.local_tag] if ref.local_tag else [])
        finally:
            for tar_copy, tree in staged.values():
                remove_tree(tar_copy)
                remove_tree(tree)
    for diff_id, layer in fetched:
        with contextlib.suppress(ImageError):     # only a hint for later pushes
            store.add_blob_source(diff_id, layer["digest"], layer["size"], layer["mediaType"], ref.domain,
                                  ref.repository)
    store.event("pull", image.id, ref.local_tag or str(ref))
    report({"status": f"Digest: {top_digest}"})
    shown = ref.local_tag or f"{ref.familiar_name}@{ref.digest}"
    up_to_date = previous == image.id and not fetched
    report({"status": f"Status: {'Image is up to date' if up_to_date else 'Downloaded newer image'} for {shown}"})
    return image


def _tagged(store, tag):
    from ..errors import NotFoundError
    if not tag:
        return None
    try:
        return store.resolve(tag).id
    except (NotFoundError, ImageError):
        return None


def _fetch_layer(store, session, repository, layer, diff_id, scope, report):
    """Download, verify, decompress and unpack one layer into staging: ``(tar, tree)``."""
    short = layer["digest"][7:19]
    blob, plain = store.staging("download"), store.staging("zstd")
    total, done = layer["size"], [0]

    def progress(n):
        done[0] += n
        report({"id": short, "status": "Downloading", "progressDetail": {"current": done[0], "total": total}})

    try:
        blobs.download(session, repository, layer, blob, scope=scope, progress=progress)
        report({"id": short, "status": "Verifying Checksum"})
        report({"id": short, "status": "Download complete"})
        report({"id": short, "status": "Extracting", "progressDetail": {"current": 0, "total": total}})
        tar = blobs.decompress(blob, layer["mediaType"], plain)
        tar_copy, tree, _ = _stage_layer(store, tar, expect=diff_id, member=f"{session.domain}/{repository}@{short}")
        return tar_copy, tree
    finally:
        remove_tree(blob)
        remove_tree(plain)

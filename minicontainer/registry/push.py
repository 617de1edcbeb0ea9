"""``push``: a local image to a registry, sending only the blobs it does not have.

For each layer, lowest first (distribution spec, "Push"):

1. if this store remembers the layer as a blob of *this* repository (it was pulled from or
   pushed to it), ``HEAD`` that blob: present -> ``Layer already exists``;
2. if it remembers it in *another* repository of the same registry, ask for a
   cross-repository mount (``POST .../blobs/uploads/?mount=<digest>&from=<repo>``):
   ``201`` -> ``Mounted from <repo>``, no bytes sent;
3. otherwise gzip it (reproducibly), ``HEAD`` the result, and upload it if missing
   (``POST``, ``PATCH`` chunks, ``PUT ?digest=``: :mod:`.blobs`).

Then the config blob the same way, and last the manifest -
``PUT /v2/<name>/manifests/<tag>`` with ``Content-Type:
application/vnd.oci.image.manifest.v1+json`` - which the registry accepts only once every
blob it names is there. The registry answers with the manifest's digest
(``Docker-Content-Digest``), checked against our own; it is what ``name@sha256:...`` pins.
"""

from __future__ import annotations

import contextlib
import json

from ..errors import ImageError, UsageError
from ..images import spec
from ..images.digest import sha256_bytes
from ..images.store import remove_tree
from . import auth, blobs
from .credentials import Credentials
from .transport import Session


def _quiet(event: dict) -> None:
    pass


def push(store, ref_text: str, settings, *, report=_quiet, credentials=None, session=None) -> tuple[str, int]:
    """Push the local image tagged ``ref_text``; returns ``(manifest digest, manifest size)``."""
    ref = settings.reference(ref_text)
    if ref.digest or not ref.tag:
        raise UsageError("push needs a tag, not a digest", op="push", path=ref_text)
    image = _local(store, ref, ref_text)
    creds = credentials if credentials is not None else Credentials(settings.config_dir).get(ref.domain)
    own = session is None
    session = session or Session(settings, ref.domain, creds)
    try:
        return _push(store, image, ref, session, report)
    finally:
        if own:
            session.close()


def _local(store, ref, ref_text: str):
    """The local image: by its familiar name (``busybox:latest`` for the default registry's
    ``library/busybox``), else by the name exactly as tagged (``127.0.0.1:5000/x/y:1``)."""
    from ..errors import NotFoundError
    from ..images.reference import normalize
    try:
        return store.resolve(ref.local_tag)
    except NotFoundError:
        as_given = normalize(ref_text)
        if as_given == ref.local_tag:
            raise
        return store.resolve(as_given)


def _push(store, image, ref, session, report) -> tuple[str, int]:
    repo = ref.repository
    sources = {d: [s for s in store.blob_sources(d) if s["registry"] == ref.domain] for d in image.diff_ids}
    others = sorted({s["repository"] for ss in sources.values() for s in ss if s["repository"] != repo})
    scope = " ".join([auth.scope_for(repo, "pull,push")] + [auth.scope_for(o, "pull") for o in others])
    report({"status": f"The push refers to repository [{ref.domain}/{repo}]"})
    layers = []
    with store.lock():
        for diff_id in image.diff_ids:
            layers.append(_push_layer(store, session, repo, diff_id, sources[diff_id], scope, report))
        config = store.config_bytes(image.id)
        if not blobs.exists(session, repo, image.id, scope=scope):
            stage = store.staging("config")
            try:
                stage.write_bytes(config)
                blobs.upload(session, repo, stage, image.id, len(config), scope=scope)
            finally:
                remove_tree(stage)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": spec.OCI_MANIFEST,
                           "config": {"mediaType": spec.OCI_CONFIG, "digest": image.id, "size": len(config)},
                           "layers": layers}, separators=(",", ":")).encode()
    digest = sha256_bytes(manifest)
    r = session.send("PUT", f"/v2/{repo}/manifests/{ref.tag}", scope=scope, content=manifest,
                     headers={"Content-Type": spec.OCI_MANIFEST}, expect=(201,))
    answered = r.headers.get("docker-content-digest")
    if answered and answered != digest:
        raise ImageError(f"registry stored the manifest as {answered}, we sent {digest}", op="push", path=str(ref))
    store.event("push", image.id, str(ref))
    return digest, len(manifest)      # the front end says "TAG: digest: ... size: N" (the engine adds its aux)


def _push_layer(store, session, repo, diff_id, known, scope, report) -> dict:
    """Make sure the registry has layer ``diff_id`` in ``repo``; its descriptor."""
    short = diff_id[7:19]
    gz = [s for s in known if s.get("mediaType") in (spec.OCI_LAYER_GZIP, spec.DOCKER_LAYER) and "size" in s]
    for s in gz:
        if s["repository"] == repo and blobs.exists(session, repo, s["digest"], scope=scope):
            report({"id": short, "status": "Layer already exists"})
            return _descriptor(s)
    for s in gz:
        if s["repository"] != repo and blobs.mount(session, repo, s["digest"], s["repository"], scope=scope):
            report({"id": short, "status": f"Mounted from {s['repository']}"})
            _remember(store, diff_id, {**s, "repository": repo}, session.domain)
            return _descriptor(s)
    report({"id": short, "status": "Preparing"})
    tmp = store.staging("push")
    try:
        digest, size = blobs.gzip_layer(store.blob_path(diff_id), tmp)
        if blobs.exists(session, repo, digest, scope=scope):
            report({"id": short, "status": "Layer already exists"})
        else:
            done = [0]

            def progress(n):
                done[0] += n
                report({"id": short, "status": "Pushing", "progressDetail": {"current": done[0], "total": size}})

            blobs.upload(session, repo, tmp, digest, size, scope=scope, progress=progress)
            report({"id": short, "status": "Pushed"})
        desc = {"mediaType": spec.OCI_LAYER_GZIP, "digest": digest, "size": size}
    finally:
        remove_tree(tmp)
    _remember(store, diff_id, {**desc, "repository": repo}, session.domain)
    return desc


def _remember(store, diff_id: str, source: dict, registry: str) -> None:
    with contextlib.suppress(ImageError):       # only a hint for the next push
        store.add_blob_source(diff_id, source["digest"], source["size"], source["mediaType"], registry,
                              source["repository"])


def _descriptor(source: dict) -> dict:
    """The manifest's descriptor for a gzipped layer the registry already has."""
    return {"mediaType": spec.OCI_LAYER_GZIP, "digest": source["digest"], "size": source["size"]}

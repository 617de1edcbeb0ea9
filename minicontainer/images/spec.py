"""The OCI image-spec's rules for image metadata, checked strictly and in one place.

An image travels as a small graph of JSON documents that point at each other by
*descriptor* (image-spec ``descriptor.md``): ``{"mediaType", "digest", "size"}``. An
*index* (``image-index.md``) lists manifests, one per platform; a *manifest*
(``manifest.md``) names one *config* (``config.md``) and the ordered *layers*
(``layer.md``); an *image layout* (``image-layout.md``) is a directory or tar holding
``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``. Docker's older
``docker save`` format uses a ``manifest.json`` list instead of ``index.json``.

Everything here is pure: each function takes already-parsed JSON and a ``where``
string (an archive member, a blob digest, a registry URL) and either returns the
checked values or raises one :class:`~minicontainer.errors.ImageError` whose one-line
message names ``where`` and the rule broken, e.g.
``load: blobs/sha256/ab12…: descriptor size -1 is negative (descriptor.md: size)``.
It reads no file and opens no socket, so ``load`` and the registry client share it.

What "strict" means here (a lenient reader accepts each of these, and the gap between
what two readers accept is where confusion attacks live):

* a digest follows the grammar of ``descriptor.md`` *Digests*
  (``algorithm ":" encoded``); of the registered algorithms sha256 (64 lower-case hex)
  and sha512 (128) are accepted, anything else is refused, since it cannot be verified;
* a size is a non-negative JSON integer (not a bool, not a float) and at most
  :data:`MAX_BLOB_SIZE`; JSON documents at most :data:`MAX_DOCUMENT_SIZE`;
* a media type is one this runtime knows for that slot (``media-types.md``);
* ``schemaVersion`` is exactly 2;
* a document with both ``manifests`` and ``config``/``layers`` is refused: it could be
  read as an index by one tool and a manifest by another (the ambiguity fixed in
  image-spec 1.0.2, GHSA-77vh-xpmg-72qh), and its ``mediaType``, when present, must
  agree with its shape;
* ``oci-layout`` says ``imageLayoutVersion`` ``"1.0.0"``;
* a config's ``rootfs.type`` is ``"layers"`` and its ``diff_ids`` are digests, as many
  as the manifest has layers.
"""

from __future__ import annotations

import re

from ..errors import ImageError

# -- media types (image-spec media-types.md; Docker's manifest v2 schema 2) ----------
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset({OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_NONDIST,
                         OCI_LAYER_NONDIST + "+gzip", OCI_LAYER_NONDIST + "+zstd",
                         DOCKER_LAYER, DOCKER_FOREIGN_LAYER})
KNOWN_TYPES = MANIFEST_TYPES | INDEX_TYPES | CONFIG_TYPES | LAYER_TYPES | {OCI_EMPTY, OCI_DESCRIPTOR}

LAYOUT_VERSION = "1.0.0"
MAX_BLOB_SIZE = 1 << 38              # 256 GiB: the tar reader's own ceiling for a whole archive
MAX_DOCUMENT_SIZE = 4 << 20          # 4 MiB: manifests, indexes and configs (registries cap manifests there)
MAX_ENTRIES = 10_000                 # descriptors in one manifest or index

# descriptor.md "Digests": algorithm ::= component (separator component)*, encoded ::= [a-zA-Z0-9=_-]+
_DIGEST_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_ALGORITHMS = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
# RFC 6838 section 4.2 restricted-name, type "/" subtype, with an optional +suffix
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")


def refuse(where: str, rule: str, *, op: str = "validate"):
    """Raise the one-line ImageError ``op: where: rule``."""
    raise ImageError(rule, op=op, path=where or None)


def _object(doc, where: str, what: str, op: str) -> dict:
    if not isinstance(doc, dict):
        refuse(where, f"{what} must be a JSON object, got {type(doc).__name__}", op=op)
    return doc


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- digests (descriptor.md "Digests") ------------------------------------------------
def check_digest(value, where: str, *, op: str = "validate") -> tuple[str, str]:
    """``(algorithm, encoded)`` of a digest string, or refuse it.

    The grammar is ``descriptor.md`` *Digests*; the encoded part of a registered
    algorithm must be lower-case hex of its exact length (sha256: 64, sha512: 128).
    Unregistered algorithms are refused: a digest we cannot compute proves nothing."""
    if not isinstance(value, str) or not _DIGEST_GRAMMAR.fullmatch(value):
        refuse(where, f"malformed digest {str(value)[:80]!r} (descriptor.md: digests are algorithm:encoded)",
               op=op)
    algorithm, encoded = value.split(":", 1)
    pattern = _ALGORITHMS.get(algorithm)
    if pattern is None:
        refuse(where, f"unsupported digest algorithm {algorithm!r} (sha256 or sha512)", op=op)
    if not pattern.fullmatch(encoded):
        want = 64 if algorithm == "sha256" else 128
        refuse(where, f"malformed {algorithm} digest {value[:80]!r} (descriptor.md: {want} lower-case hex digits)",
               op=op)
    return algorithm, encoded


def check_media_type(value, where: str, *, allowed=None, slot: str = "descriptor", op: str = "validate") -> str:
    """A media type string (RFC 6838 syntax), and one of ``allowed`` when given."""
    if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
        refuse(where, f"{slot} mediaType {str(value)[:80]!r} is not a media type (descriptor.md: RFC 6838)", op=op)
    if allowed is not None and value not in allowed:
        refuse(where, f"unknown {slot} mediaType {value!r} (media-types.md)", op=op)
    return value


def check_size(value, where: str, *, limit: int = MAX_BLOB_SIZE, slot: str = "descriptor",
               op: str = "validate") -> int:
    """A size in bytes: a JSON integer, not negative, at most ``limit``."""
    if not _is_int(value):
        refuse(where, f"{slot} size {value!r} is not an integer (descriptor.md: size is int64)", op=op)
    if value < 0:
        refuse(where, f"{slot} size {value} is negative (descriptor.md: size)", op=op)
    if value > limit:
        refuse(where, f"{slot} size {value} is over the {limit}-byte limit", op=op)
    return value


# -- descriptors (descriptor.md "Properties") ---------------------------------------
def check_descriptor(desc, where: str, *, allowed=None, slot: str = "descriptor", limit: int = MAX_BLOB_SIZE,
                     op: str = "validate") -> dict:
    """A content descriptor: ``mediaType`` (known when ``allowed`` is given), ``digest``,
    ``size`` (bounded by ``limit``), and the optional fields with their types."""
    _object(desc, where, slot, op)
    for key in ("mediaType", "digest", "size"):
        if key not in desc:
            refuse(where, f"{slot} has no {key} (descriptor.md: {key} is required)", op=op)
    check_media_type(desc["mediaType"], where, allowed=allowed, slot=slot, op=op)
    check_digest(desc["digest"], where, op=op)
    check_size(desc["size"], where, limit=limit, slot=slot, op=op)
    urls = desc.get("urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        refuse(where, f"{slot} urls must be a list of strings (descriptor.md)", op=op)
    check_annotations(desc.get("annotations"), where, op=op)
    if "platform" in desc:
        check_platform(desc["platform"], where, op=op)
    return desc


def check_annotations(value, where: str, *, op: str = "validate") -> dict:
    """``annotations`` is a string-to-string map (annotations.md) or absent."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        refuse(where, "annotations must map strings to strings (annotations.md)", op=op)
    return value


def check_platform(value, where: str, *, op: str = "validate") -> dict:
    """image-index.md ``platform``: ``architecture`` and ``os`` are required strings."""
    _object(value, where, "platform", op)
    for key in ("architecture", "os"):
        if not isinstance(value.get(key), str) or not value[key]:
            refuse(where, f"platform has no {key} (image-index.md: platform.{key} is required)", op=op)
    return value


def _schema_version(doc: dict, where: str, what: str, op: str) -> None:
    version = doc.get("schemaVersion")
    if not _is_int(version) or version != 2:
        refuse(where, f"{what} schemaVersion {version!r} is not 2 ({what.replace(' ', '-')}.md)", op=op)


def _descriptor_list(value, where: str, key: str, what: str, op: str) -> list:
    if not isinstance(value, list):
        refuse(where, f"{what} {key} must be a list ({what.replace(' ', '-')}.md)", op=op)
    if len(value) > MAX_ENTRIES:
        refuse(where, f"{what} lists more than {MAX_ENTRIES} {key}", op=op)
    return value


# -- manifest vs index ----------------------------------------------------------------
def kind_of(doc, where: str, *, media_type: str | None = None, op: str = "validate") -> str:
    """``"manifest"`` or ``"index"``: what this document is, refusing ambiguity.

    A document with both ``manifests`` and ``config``/``layers`` is refused outright;
    its own ``mediaType`` (and ``media_type``, the type it was fetched or referenced
    as) must agree with its shape when set."""
    _object(doc, where, "image document", op)
    is_index = "manifests" in doc
    is_manifest = "config" in doc or "layers" in doc
    if is_index and is_manifest:
        refuse(where, "document has both manifests and config/layers: is it a manifest or an index? "
                      "(image-spec 1.0.2 forbids the ambiguity)", op=op)
    if not is_index and not is_manifest:
        refuse(where, "document is neither a manifest (config, layers) nor an index (manifests)", op=op)
    kind = "index" if is_index else "manifest"
    wanted = INDEX_TYPES if is_index else MANIFEST_TYPES
    for declared in (doc.get("mediaType"), media_type):
        if declared is not None and declared not in wanted:
            article = "an" if is_index else "a"
            refuse(where, f"mediaType {declared!r} does not match the document, which is {article} {kind}", op=op)
    return kind


def check_manifest(doc, where: str, *, media_type: str | None = None, op: str = "validate") -> dict:
    """An image manifest (manifest.md): schemaVersion 2, a config descriptor of a config
    media type, a list of layer descriptors of layer media types. Returns ``doc``."""
    if kind_of(doc, where, media_type=media_type, op=op) != "manifest":
        refuse(where, "expected an image manifest, got an index", op=op)
    _schema_version(doc, where, "manifest", op)
    if "config" not in doc:
        refuse(where, "manifest has no config (manifest.md: config is required)", op=op)
    check_descriptor(doc["config"], where, allowed=CONFIG_TYPES, slot="config", limit=MAX_DOCUMENT_SIZE, op=op)
    layers = _descriptor_list(doc.get("layers"), where, "layers", "manifest", op)
    for n, layer in enumerate(layers):
        check_descriptor(layer, where, allowed=LAYER_TYPES, slot=f"layer {n}", op=op)
    check_annotations(doc.get("annotations"), where, op=op)
    return doc


def check_index(doc, where: str, *, media_type: str | None = None, op: str = "validate") -> dict:
    """An image index (image-index.md): schemaVersion 2 and a list of manifest
    descriptors, each of a manifest or index media type. Returns ``doc``."""
    if kind_of(doc, where, media_type=media_type, op=op) != "index":
        refuse(where, "expected an image index, got a manifest", op=op)
    _schema_version(doc, where, "image index", op)
    manifests = _descriptor_list(doc.get("manifests"), where, "manifests", "image index", op)
    for n, desc in enumerate(manifests):
        check_descriptor(desc, where, allowed=MANIFEST_TYPES | INDEX_TYPES, slot=f"manifests[{n}]",
                         limit=MAX_DOCUMENT_SIZE, op=op)
    check_annotations(doc.get("annotations"), where, op=op)
    return doc


# -- image config (config.md) ----------------------------------------------------------
def check_config(doc, where: str, *, layers: int | None = None, op: str = "validate") -> list[str]:
    """An image config: ``rootfs.type`` is ``"layers"``, ``rootfs.diff_ids`` a list of
    digests (as many as ``layers`` when given). Returns the diff_ids.

    ``architecture`` and ``os`` are REQUIRED by config.md, but configs made by older
    tools (and by tests) leave them out; when present they must be strings."""
    _object(doc, where, "image config", op)
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict):
        refuse(where, "image config has no rootfs object (config.md: rootfs is required)", op=op)
    if rootfs.get("type") != "layers":
        refuse(where, f"image config rootfs.type {rootfs.get('type')!r} is not \"layers\" (config.md)", op=op)
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        refuse(where, "image config rootfs.diff_ids must be a list (config.md)", op=op)
    if len(diff_ids) > MAX_ENTRIES:
        refuse(where, f"image config lists more than {MAX_ENTRIES} diff_ids", op=op)
    for d in diff_ids:
        check_digest(d, where, op=op)
    if layers is not None and len(diff_ids) != layers:
        refuse(where, f"image config lists {len(diff_ids)} diff_ids, the manifest {layers} layers "
                      "(config.md: one diff_id per layer)", op=op)
    for key in ("architecture", "os"):
        if key in doc and not isinstance(doc[key], str):
            refuse(where, f"image config {key} must be a string (config.md)", op=op)
    if "config" in doc and doc["config"] is not None and not isinstance(doc["config"], dict):
        refuse(where, "image config config must be an object (config.md)", op=op)
    history = doc.get("history")
    if history is not None and not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        refuse(where, "image config history must be a list of objects (config.md)", op=op)
    return list(diff_ids)


# -- image layout (image-layout.md) and docker save -----------------------------------
def check_layout(doc, where: str = "oci-layout", *, op: str = "validate") -> dict:
    """The ``oci-layout`` file: ``{"imageLayoutVersion": "1.0.0"}``."""
    _object(doc, where, "oci-layout", op)
    version = doc.get("imageLayoutVersion")
    if version != LAYOUT_VERSION:
        refuse(where, f"unknown imageLayoutVersion {version!r} (image-layout.md: \"{LAYOUT_VERSION}\")", op=op)
    return doc


def check_docker_manifest(doc, where: str = "manifest.json", *, op: str = "validate") -> list[dict]:
    """``docker save``'s ``manifest.json``: a list of ``{"Config": str, "Layers": [str],
    "RepoTags": [str] | null}`` (moby ``image/tarexport``). Returns the entries."""
    if not isinstance(doc, list):
        refuse(where, "docker manifest.json must be a list of images", op=op)
    if len(doc) > MAX_ENTRIES:
        refuse(where, f"docker manifest.json lists more than {MAX_ENTRIES} images", op=op)
    for n, item in enumerate(doc):
        _object(item, where, f"entry {n}", op)
        if not isinstance(item.get("Config"), str) or not item["Config"]:
            refuse(where, f"entry {n} has no Config file name", op=op)
        layers = item.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            refuse(where, f"entry {n} Layers must be a list of file names", op=op)
        if len(layers) > MAX_ENTRIES:
            refuse(where, f"entry {n} lists more than {MAX_ENTRIES} layers", op=op)
        tags = item.get("RepoTags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            refuse(where, f"entry {n} RepoTags must be a list of strings", op=op)
    return doc

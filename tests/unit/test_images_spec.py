"""minicontainer.images.spec: the image-spec rules on parsed JSON, one refusal per rule."""

from __future__ import annotations

import pytest

from minicontainer.errors import ImageError
from minicontainer.images import spec

D = "sha256:" + "a" * 64


def _manifest(**over):
    doc = {"schemaVersion": 2, "mediaType": spec.OCI_MANIFEST,
           "config": {"mediaType": spec.OCI_CONFIG, "digest": D, "size": 10},
           "layers": [{"mediaType": spec.OCI_LAYER_GZIP, "digest": D, "size": 20}]}
    doc.update(over)
    return doc


def _index(**over):
    doc = {"schemaVersion": 2, "mediaType": spec.OCI_INDEX,
           "manifests": [{"mediaType": spec.OCI_MANIFEST, "digest": D, "size": 30,
                          "platform": {"architecture": "amd64", "os": "linux"}}]}
    doc.update(over)
    return doc


def _refused(fn, *args, message, **kw):
    with pytest.raises(ImageError) as exc:
        fn(*args, **kw)
    text = str(exc.value)
    assert message in text and "\n" not in text
    assert text.startswith("pull: where: ") if kw.get("op") == "pull" else "where" in text
    return text


def test_good_documents_pass():
    assert spec.check_manifest(_manifest(), "m") == _manifest()
    assert spec.check_index(_index(), "i") == _index()
    assert spec.check_config({"rootfs": {"type": "layers", "diff_ids": [D]}}, "c", layers=1) == [D]
    assert spec.check_layout({"imageLayoutVersion": "1.0.0"}) == {"imageLayoutVersion": "1.0.0"}
    assert spec.kind_of(_index(), "x") == "index" and spec.kind_of(_manifest(), "x") == "manifest"
    assert spec.check_digest("sha512:" + "0" * 128, "d") == ("sha512", "0" * 128)


@pytest.mark.parametrize("value,message", [
    ("sha256:" + "a" * 63, "64 lower-case hex"),
    ("sha256:" + "A" * 64, "64 lower-case hex"),
    ("sha512:" + "a" * 64, "128 lower-case hex"),
    ("md5:" + "a" * 32, "unsupported digest algorithm"),
    ("sha256", "malformed digest"),
    ("SHA256:" + "a" * 64, "malformed digest"),
    (12, "malformed digest"),
])
def test_digest_syntax(value, message):
    _refused(spec.check_digest, value, "where", message=message, op="pull")


@pytest.mark.parametrize("size,message", [(-1, "is negative"), (1 << 60, "over the"), (1.5, "not an integer"),
                                          (True, "not an integer"), ("10", "not an integer")])
def test_descriptor_size(size, message):
    doc = _manifest(layers=[{"mediaType": spec.OCI_LAYER, "digest": D, "size": size}])
    _refused(spec.check_manifest, doc, "where", message=message)


def test_descriptor_fields():
    _refused(spec.check_manifest, _manifest(config={"mediaType": spec.OCI_CONFIG, "size": 1}), "where",
             message="config has no digest")
    _refused(spec.check_manifest, _manifest(config={"mediaType": "text/plain", "digest": D, "size": 1}), "where",
             message="unknown config mediaType 'text/plain'")
    _refused(spec.check_manifest, _manifest(layers=[{"mediaType": "no slash", "digest": D, "size": 1}]), "where",
             message="is not a media type")
    _refused(spec.check_manifest, _manifest(config={"mediaType": spec.OCI_CONFIG, "digest": D, "size": 10 << 20}),
             "where", message="over the")
    _refused(spec.check_index, _index(manifests=[{"mediaType": spec.OCI_MANIFEST, "digest": D, "size": 1,
                                                  "platform": {"os": "linux"}}]), "where",
             message="platform has no architecture")
    _refused(spec.check_manifest, _manifest(annotations={"a": 1}), "where", message="annotations must map")


def test_manifest_and_index_at_once_is_refused():
    both = _manifest(manifests=_index()["manifests"])
    for fn in (spec.check_manifest, spec.check_index, spec.kind_of):
        _refused(fn, both, "where", message="both manifests and config/layers")


def test_media_type_must_match_shape():
    _refused(spec.check_manifest, _manifest(mediaType=spec.OCI_INDEX), "where", message="which is a manifest")
    _refused(spec.check_index, _index(mediaType=spec.DOCKER_MANIFEST), "where", message="which is an index")
    _refused(spec.check_index, _index(), "where", media_type=spec.OCI_MANIFEST, message="which is an index")
    _refused(spec.check_manifest, _index(), "where", message="expected an image manifest")


@pytest.mark.parametrize("version", [1, 3, "2", None, True])
def test_schema_version(version):
    _refused(spec.check_manifest, _manifest(schemaVersion=version), "where", message="is not 2 (manifest.md)")
    _refused(spec.check_index, _index(schemaVersion=version), "where", message="is not 2 (image-index.md)")


def test_config_rules():
    _refused(spec.check_config, {"rootfs": {"type": "tar", "diff_ids": [D]}}, "where",
             message="rootfs.type 'tar' is not \"layers\"")
    _refused(spec.check_config, {"rootfs": {"type": "layers", "diff_ids": [D]}}, "where", layers=2,
             message="lists 1 diff_ids, the manifest 2 layers")
    _refused(spec.check_config, {"config": {}}, "where", message="no rootfs object")
    _refused(spec.check_config, {"rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}}, "where",
             message="malformed sha256 digest")
    _refused(spec.check_config, {"rootfs": {"type": "layers", "diff_ids": []}, "os": 7}, "where",
             message="os must be a string")


def test_layout_and_docker_manifest():
    _refused(spec.check_layout, {"imageLayoutVersion": "1.1.0"}, "where", message="unknown imageLayoutVersion")
    _refused(spec.check_layout, {}, "where", message="unknown imageLayoutVersion None")
    _refused(spec.check_docker_manifest, {"Config": "x"}, "where", message="must be a list")
    _refused(spec.check_docker_manifest, [{"Config": "c.json", "Layers": "l.tar"}], "where",
             message="Layers must be a list")
    _refused(spec.check_docker_manifest, [{"Config": "c.json", "Layers": [], "RepoTags": "x:1"}], "where",
             message="RepoTags must be a list")
    ok = [{"Config": "c.json", "Layers": ["l.tar"], "RepoTags": None}]
    assert spec.check_docker_manifest(ok) == ok

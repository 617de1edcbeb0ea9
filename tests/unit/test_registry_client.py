"""The registry client against a fake registry on 127.0.0.1 that answers badly on purpose.

Each bad answer of issue 17 gets a test: the error is one line, and nothing is stored
(no blob, no layer, no tag, no temporary file). Positive controls show the same fake
serves a good image, so each failure is the one the test provoked.
"""

import gzip
import hashlib
import json

import pytest

from minicontainer.errors import ImageError, MiniContainerError, NotFoundError, UsageError
from minicontainer.images import spec
from minicontainer.images.store import ImageStore
from minicontainer.registry import blobs
from minicontainer.registry.pull import pull
from minicontainer.registry.settings import Settings
from minicontainer.registry.transport import Session

from registry_fake import FakeRegistry, Image, index_of, sha


@pytest.fixture
def fake():
    f = FakeRegistry()
    yield f
    f.close()


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "root")


@pytest.fixture
def settings(fake, tmp_path):
    return Settings(default=fake.host, config_dir=tmp_path / "docker")


def assert_nothing_stored(store):
    images = store.root
    if not images.exists():
        return
    for sub in ("blobs/sha256", "layers", "tmp"):
        d = images / sub
        assert not d.exists() or not list(d.iterdir()), f"{sub} is not empty: {list(d.iterdir())}"
    index = images / "repositories.json"
    assert not index.exists() or json.loads(index.read_text())["tags"] == {}


def failing_pull(store, ref, settings, error=MiniContainerError) -> str:
    with pytest.raises(error) as info:
        pull(store, ref, settings)
    text = str(info.value)
    assert "\n" not in text and text
    assert_nothing_stored(store)
    return text


# -- positive controls ---------------------------------------------------------------------
def test_a_good_image_is_pulled_and_tagged_and_a_second_pull_fetches_no_layer(fake, store, settings):
    im = Image()
    fake.serve_image("library/hello", "latest", im)
    events = []
    image = pull(store, "hello", settings, report=events.append)
    assert image.id == im.id and image.repo_tags == ["hello:latest"]
    assert (image.layer_dirs[0] / "hello.txt").read_bytes() == b"hello from the fake registry\n"
    assert fake.asked("GET", f"/v2/library/hello/blobs/{im.layer_desc['digest']}") == 1
    assert {"id": im.layer_desc["digest"][7:19], "status": "Pull complete"} in events

    again = []
    pull(store, "hello", settings, report=again.append)
    assert {"id": im.layer_desc["digest"][7:19], "status": "Already exists"} in again
    assert fake.asked("GET", f"/v2/library/hello/blobs/{im.layer_desc['digest']}") == 1     # not asked again
    assert again[-1]["status"] == "Status: Image is up to date for hello:latest"
    assert not list((store.root / "tmp").iterdir())


def test_accept_names_all_four_manifest_types(fake, store, settings):
    fake.serve_image("library/hello", "latest", Image())
    pull(store, "hello", settings)
    accept = next(r for r in fake.requests if "/manifests/" in r.path).headers["Accept"]
    for t in (spec.OCI_INDEX, spec.OCI_MANIFEST, spec.DOCKER_LIST, spec.DOCKER_MANIFEST):
        assert t in accept


def test_an_index_resolves_to_the_linux_amd64_entry(fake, store, settings, monkeypatch):
    from minicontainer.registry import manifests
    monkeypatch.setattr(manifests, "platform", lambda: ("linux", "amd64", None))
    arm, amd = Image({"arm.txt": b"arm"}, arch="arm64"), Image({"amd.txt": b"amd"})
    body = index_of([(arm, "linux", "arm64"), (amd, "linux", "amd64")])
    fake.serve_image("library/multi", "x", amd)
    fake.serve_image("library/multi", "arm", arm)
    fake.routes[("GET", "/v2/library/multi/manifests/latest")] = (
        200, {"Content-Type": spec.OCI_INDEX, "Docker-Content-Digest": sha(body)}, body)
    image = pull(store, "multi", settings)
    assert image.id == amd.id
    assert fake.asked("GET", f"/v2/library/multi/blobs/{arm.layer_desc['digest']}") == 0


def test_zstd_and_docker_schema2_layers_are_pulled(fake, store, settings):
    im = Image(layer_type=spec.OCI_LAYER_ZSTD)
    fake.serve_image("library/z", "latest", im)
    assert (pull(store, "z", settings).layer_dirs[0] / "hello.txt").exists()
    dm = Image({"d.txt": b"docker"}, layer_type=spec.DOCKER_LAYER)
    doc = json.loads(dm.manifest)
    doc["mediaType"], doc["config"]["mediaType"] = spec.DOCKER_MANIFEST, spec.DOCKER_CONFIG
    dm.manifest = json.dumps(doc).encode()
    dm.manifest_digest = sha(dm.manifest)
    fake.serve_image("library/d", "latest", dm, manifest_type=spec.DOCKER_MANIFEST)
    assert (pull(store, "d", settings).layer_dirs[0] / "d.txt").exists()


def test_a_docker_manifest_list_resolves_to_its_linux_amd64_schema2_entry(fake, store, settings, monkeypatch):
    """What Docker Hub serves for most images: a manifest list over schema2 manifests."""
    from minicontainer.registry import manifests
    monkeypatch.setattr(manifests, "platform", lambda: ("linux", "amd64", None))
    entries = []
    for arch, files in (("arm64", {"arm.txt": b"arm"}), ("amd64", {"amd.txt": b"amd"})):
        im = Image(files, arch=arch, layer_type=spec.DOCKER_LAYER)
        doc = json.loads(im.manifest)
        doc["mediaType"], doc["config"]["mediaType"] = spec.DOCKER_MANIFEST, spec.DOCKER_CONFIG
        im.manifest = json.dumps(doc).encode()
        im.manifest_digest = sha(im.manifest)
        fake.serve_image("library/multi", arch, im, manifest_type=spec.DOCKER_MANIFEST)
        entries.append((im, arch))
    body = json.dumps({"schemaVersion": 2, "mediaType": spec.DOCKER_LIST, "manifests": [
        {"mediaType": spec.DOCKER_MANIFEST, "digest": im.manifest_digest, "size": len(im.manifest),
         "platform": {"os": "linux", "architecture": arch}} for im, arch in entries]}).encode()
    fake.routes[("GET", "/v2/library/multi/manifests/latest")] = (
        200, {"Content-Type": spec.DOCKER_LIST, "Docker-Content-Digest": sha(body)}, body)
    image = pull(store, "multi", settings)
    arm, amd = entries[0][0], entries[1][0]
    assert image.id == amd.id and (image.layer_dirs[0] / "amd.txt").read_bytes() == b"amd"
    assert fake.asked("GET", f"/v2/library/multi/manifests/{amd.manifest_digest}") == 1
    assert fake.asked("GET", f"/v2/library/multi/blobs/{arm.layer_desc['digest']}") == 0


# -- bad answers: one line, nothing stored ------------------------------------------------
def test_manifest_digest_mismatch(fake, store, settings):
    im = Image()
    fake.serve_image("library/hello", "latest", im)
    other = "sha256:" + "1" * 64
    fake.routes[("GET", f"/v2/library/hello/manifests/{other}")] = fake.routes[
        ("GET", "/v2/library/hello/manifests/latest")]
    assert "manifest digest mismatch" in failing_pull(store, f"hello@{other}", settings)
    # and a Docker-Content-Digest header that disagrees with the body
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (
        200, {"Content-Type": spec.OCI_MANIFEST, "Docker-Content-Digest": other}, im.manifest)
    assert f"registry says {other}" in failing_pull(store, "hello", settings)


def test_manifest_size_mismatch_against_the_index(fake, store, settings, monkeypatch):
    from minicontainer.registry import manifests
    monkeypatch.setattr(manifests, "platform", lambda: ("linux", "amd64", None))
    im = Image()
    doc = json.loads(index_of([(im, "linux", "amd64")]))
    doc["manifests"][0]["size"] += 7
    body = json.dumps(doc).encode()
    fake.serve_image("library/hello", "x", im)
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (200, {"Content-Type": spec.OCI_INDEX}, body)
    assert "its descriptor says" in failing_pull(store, "hello", settings)


def test_blob_digest_mismatch(fake, store, settings):
    im = Image()
    fake.serve_image("library/hello", "latest", im)
    bad = bytearray(im.layer)
    bad[-9] ^= 0xFF
    fake.routes[("GET", f"/v2/library/hello/blobs/{im.layer_desc['digest']}")] = (200, {}, bytes(bad))
    assert "blob digest mismatch" in failing_pull(store, "hello", settings)


def test_a_blob_longer_than_its_descriptor(fake, store, settings):
    im = Image()
    fake.serve_image("library/hello", "latest", im)
    fake.routes[("GET", f"/v2/library/hello/blobs/{im.layer_desc['digest']}")] = (200, {}, im.layer + b"x")
    text = failing_pull(store, "hello", settings, ImageError)
    assert f"blob is longer than its descriptor's {im.layer_desc['size']} bytes" in text


def test_truncated_download(fake, store, settings):
    im = Image({"big.bin": bytes(range(256)) * 400})
    fake.serve_image("library/hello", "latest", im)
    fake.routes[("GET", f"/v2/library/hello/blobs/{im.layer_desc['digest']}")] = (
        200, {"truncate": str(len(im.layer) // 2)}, im.layer)
    assert "truncated download" in failing_pull(store, "hello", settings)


def test_index_without_linux_amd64(fake, store, settings, monkeypatch):
    from minicontainer.registry import manifests
    monkeypatch.setattr(manifests, "platform", lambda: ("linux", "amd64", None))
    arm = Image(arch="arm64")
    body = index_of([(arm, "linux", "arm64"), (arm, "windows", "amd64")])
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (200, {"Content-Type": spec.OCI_INDEX}, body)
    text = failing_pull(store, "hello", settings, NotFoundError)
    assert "no manifest for linux/amd64" in text and "linux/arm64, windows/amd64" in text


def test_401_without_a_usable_challenge(fake, store, settings):
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (401, {}, b"")
    assert "401 without a usable WWW-Authenticate challenge" in failing_pull(store, "hello", settings, UsageError)
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (401, {"WWW-Authenticate": "Negotiate xyz"}, b"")
    assert "without a usable" in failing_pull(store, "hello", settings, UsageError)


def test_redirect_of_a_manifest_to_another_host_is_refused(fake, store, settings):
    other = FakeRegistry()
    try:
        im = Image()
        other.serve_image("library/hello", "latest", im)
        fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (
            307, {"Location": f"http://localhost:{other.port}/v2/library/hello/manifests/latest"}, b"")
        text = failing_pull(store, "hello", settings, ImageError)
        assert f"redirected to another host (localhost:{other.port}): refused" in text
        assert other.requests == []
    finally:
        other.close()


def test_a_blob_redirect_to_another_host_is_followed_without_credentials(fake, store, settings):
    """Object-storage backed registries send blobs elsewhere: follow, but never with our Authorization
    (the registry itself wants a token, so the client does hold one when the redirect comes)."""
    other = FakeRegistry()
    try:
        im = Image()
        _bearer_registry(fake, im)
        blob = f"/v2/library/hello/blobs/{im.layer_desc['digest']}"

        def redirect(req):
            if req.headers.get("Authorization") != "Bearer tok-123":
                return 401, {"WWW-Authenticate": f'Bearer realm="http://{fake.host}/token",service="fake"'}, b""
            return 307, {"Location": f"http://localhost:{other.port}/blob"}, b""
        fake.routes[("GET", blob)] = redirect
        other.routes[("GET", "/blob")] = (200, {}, im.layer)
        pull(store, "hello", settings, credentials=("alice", "secret"))
        sent = [r for r in fake.requests if r.route == blob]
        assert sent and sent[-1].headers.get("Authorization") == "Bearer tok-123"
        assert other.asked("GET", "/blob") == 1
        assert not any(k.lower() == "authorization" for k in other.requests[0].headers)
    finally:
        other.close()


def test_a_huge_manifest_is_refused(fake, store, settings):
    huge = b" " * (spec.MAX_DOCUMENT_SIZE + 1)
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (200, {"Content-Type": spec.OCI_MANIFEST}, huge)
    assert "over the 4194304-byte limit" in failing_pull(store, "hello", settings, ImageError)


def test_a_huge_manifest_with_a_lying_length_is_refused_while_reading():
    """Content-Length says 10 bytes and the body runs on: the running count stops it."""
    from minicontainer.registry import manifests
    huge = b"{" + b" " * (spec.MAX_DOCUMENT_SIZE + 10)

    class Response:
        headers = {"content-length": "10"}

        def iter_bytes(self):
            for i in range(0, len(huge), 1 << 16):
                yield huge[i:i + (1 << 16)]

        def close(self):
            pass
    with pytest.raises(ImageError, match="over the 4194304-byte limit"):
        manifests.read_capped(Response(), "fake")


def test_an_unknown_media_type_is_refused(fake, store, settings):
    im = Image()
    fake.serve_image("library/hello", "latest", im)
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (
        200, {"Content-Type": "application/vnd.example.thing+json"}, im.manifest)
    assert "unknown manifest media type 'application/vnd.example.thing+json'" in failing_pull(store, "hello", settings)
    doc = json.loads(im.manifest)
    doc["layers"][0]["mediaType"] = "application/x-mystery-layer"
    body = json.dumps(doc).encode()
    fake.routes[("GET", "/v2/library/hello/manifests/latest")] = (200, {"Content-Type": spec.OCI_MANIFEST}, body)
    assert "unknown layer 0 mediaType 'application/x-mystery-layer'" in failing_pull(store, "hello", settings)


@pytest.mark.parametrize("ref", ["Hello", "hello:", "hello@sha256:123", "a//b", "-x", "x:y:z", "UPPER/case:1"])
def test_bad_reference_syntax(fake, store, settings, ref):
    assert "invalid reference format" in failing_pull(store, ref, settings, UsageError)
    assert fake.requests == []


def test_cli_pull_failure_is_one_line_and_exit_1(fake, tmp_path, capsys, monkeypatch):
    from minicontainer.cli import main
    im = Image()
    fake.serve_image("library/hello", "latest", im)
    fake.routes[("GET", f"/v2/library/hello/blobs/{im.layer_desc['digest']}")] = (200, {}, b"x" * im.layer_desc["size"])
    monkeypatch.setenv("MINICONTAINER_REGISTRY", fake.host)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    assert main(["--root", str(tmp_path / "root"), "pull", "hello"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "blob digest mismatch" in err[0]
    assert_nothing_stored(ImageStore(tmp_path / "root"))


# -- authentication ----------------------------------------------------------------------
def _bearer_registry(fake, im):
    realm = f"http://{fake.host}/token"
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake",scope="repository:library/hello:pull"'}
    good_basic = "Basic " + __import__("base64").b64encode(b"alice:secret").decode()
    fake.serve_image("library/hello", "latest", im)
    plain = dict(fake.routes)

    def guarded(key):
        def answer(req):
            if req.headers.get("Authorization") != "Bearer tok-123":
                return 401, challenge, b""
            return plain[key]
        return answer
    for key in plain:
        fake.routes[key] = guarded(key)

    def token(req):
        if req.headers.get("Authorization") != good_basic:
            return 401, {}, b""
        return 200, {"Content-Type": "application/json"}, b'{"token": "tok-123"}'
    fake.routes[("GET", "/token")] = token


def test_bearer_token_flow(fake, store, settings):
    im = Image()
    _bearer_registry(fake, im)
    assert pull(store, "hello", settings, credentials=("alice", "secret")).id == im.id
    tok = next(r for r in fake.requests if r.route == "/token")
    assert "service=fake" in tok.path and "scope=repository%3Alibrary%2Fhello%3Apull" in tok.path


def test_bearer_with_a_wrong_password_is_refused_and_stores_nothing(fake, store, settings):
    _bearer_registry(fake, Image())
    with pytest.raises(UsageError, match="incorrect username or password"):
        pull(store, "hello", settings, credentials=("alice", "wrong"))
    assert_nothing_stored(store)
    with pytest.raises(UsageError, match="authentication required|incorrect"):
        pull(store, "hello", settings)          # anonymous: the token endpoint refuses too
    assert_nothing_stored(store)


def test_login_stores_0600_credentials_and_logout_removes_them(fake, settings, tmp_path):
    from minicontainer.registry.credentials import Credentials
    from minicontainer.registry.login import login
    _bearer_registry(fake, Image())
    fake.routes[("GET", "/v2/")] = lambda req: (
        (200, {}, b"{}") if req.headers.get("Authorization") == "Bearer tok-123" else
        (401, {"WWW-Authenticate": f'Bearer realm="http://{fake.host}/token",service="fake"'}, b""))
    with pytest.raises(UsageError, match="incorrect username or password"):
        login(settings, fake.host, "alice", "wrong")
    assert not (tmp_path / "docker" / "config.json").exists()
    path = login(settings, fake.host, "alice", "secret")
    assert path.stat().st_mode & 0o777 == 0o600
    assert Credentials(tmp_path / "docker").get(fake.host) == ("alice", "secret")
    assert Credentials(tmp_path / "docker").erase(fake.host)
    assert Credentials(tmp_path / "docker").get(fake.host) is None


def test_plain_http_only_for_loopback_or_insecure_registries():
    s = Settings(default="docker.io", insecure=["lab.internal:5000"])
    assert s.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert s.base_url("localhost:5000") == "http://localhost:5000"
    assert s.base_url("[::1]:5000") == "http://[::1]:5000"
    assert s.base_url("lab.internal:5000") == "http://lab.internal:5000"
    assert s.base_url("registry.example:5000") == "https://registry.example:5000"
    assert s.base_url("docker.io") == "https://registry-1.docker.io"


def test_insecure_registries_come_from_the_flag_the_environment_and_the_settings_file(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    (root / "registries.json").write_text(json.dumps({"insecure": ["file.lab:5000"]}))
    monkeypatch.setenv("MINICONTAINER_INSECURE_REGISTRIES", "env.lab:5000,env2.lab")
    s = Settings.load(root, insecure=["flag.lab:5000"])
    for host in ("file.lab:5000", "env.lab:5000", "env2.lab", "flag.lab:5000"):
        assert s.base_url(host) == f"http://{host}" and s.plain_http_allowed(host)
    assert s.base_url("other.lab:5000") == "https://other.lab:5000" and not s.plain_http_allowed("other.lab")
    monkeypatch.setenv("MINICONTAINER_INSECURE_REGISTRIES", "bad host")
    with pytest.raises(UsageError):
        Settings.load(root)


def test_the_cli_passes_insecure_registry_to_the_pull(tmp_path, monkeypatch, capsys):
    """``pull --insecure-registry HOST`` reaches the registry client (no request is sent here)."""
    from minicontainer.cli import main
    from minicontainer.registry import pull as pull_module
    seen = {}

    def record(store, ref, settings, report=None):
        seen["url"] = settings.base_url(settings.reference(ref).domain)
    monkeypatch.setattr(pull_module, "pull", record)
    monkeypatch.delenv("MINICONTAINER_INSECURE_REGISTRIES", raising=False)
    assert main(["--root", str(tmp_path / "r"), "pull", "--insecure-registry", "lab.internal:5000",
                 "lab.internal:5000/x/y:1"]) == 0
    assert seen["url"] == "http://lab.internal:5000"
    assert main(["--root", str(tmp_path / "r"), "pull", "lab.internal:5000/x/y:1"]) == 0
    assert seen["url"] == "https://lab.internal:5000"


def test_references_resolve_like_docker():
    lab = Settings(default="127.0.0.1:5000")
    hub = Settings()
    assert str(hub.reference("busybox")) == "docker.io/library/busybox:latest"
    assert str(lab.reference("busybox")) == "127.0.0.1:5000/library/busybox:latest"
    assert lab.reference("busybox").local_tag == "busybox:latest"
    r = hub.reference("127.0.0.1:5000/x/y:tag")
    assert (r.domain, r.repository, r.tag, r.local_tag) == ("127.0.0.1:5000", "x/y", "tag", "127.0.0.1:5000/x/y:tag")
    d = hub.reference("localhost:5000/app@sha256:" + "a" * 64)
    assert d.tag is None and d.manifest_ref == "sha256:" + "a" * 64 and d.local_tag is None


# -- resumable upload ----------------------------------------------------------------------
def test_an_upload_broken_mid_patch_resumes_where_the_registry_stands(fake, tmp_path):
    data = bytes(range(256)) * 12          # 3072 bytes, three 1024-byte chunks
    received = bytearray()
    patches = []
    fake.routes[("POST", "/v2/r/blobs/uploads/")] = (202, {"Location": "/v2/r/blobs/uploads/u1?_state=s0"}, b"")

    def patch(req):
        patches.append(req.headers.get("Content-Range"))
        received.extend(req.body)
        if len(patches) == 2:
            return "drop"                # the second chunk arrived, the answer never does
        return 202, {"Location": f"/v2/r/blobs/uploads/u1?_state=s{len(patches)}"}, b""
    fake.routes[("PATCH", "/v2/r/blobs/uploads/u1")] = patch
    fake.routes[("GET", "/v2/r/blobs/uploads/u1")] = lambda req: (
        204, {"Range": f"0-{len(received) - 1}", "Location": "/v2/r/blobs/uploads/u1?_state=resumed"}, b"")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    fake.routes[("PUT", "/v2/r/blobs/uploads/u1")] = lambda req: (
        (201, {}, b"") if f"digest={digest.replace(':', '%3A')}" in req.path and bytes(received) == data
        else (400, {}, b""))
    src = tmp_path / "blob"
    src.write_bytes(data)
    with Session(Settings(default=fake.host), fake.host) as s:
        blobs.upload(s, "r", src, digest, len(data), scope="repository:r:pull,push", chunk=1024)
    assert patches == ["0-1023", "1024-2047", "2048-3071"]
    assert fake.asked("GET", "/v2/r/blobs/uploads/u1") == 1
    third = [r for r in fake.requests if r.method == "PATCH"][2]
    assert third.path.endswith("_state=resumed")      # resumed at the Location the status answer gave
    put = next(r for r in fake.requests if r.method == "PUT")
    assert put.path.endswith(f"?_state=s3&digest={digest.replace(':', '%3A')}")   # its query kept, digest added


def test_gzip_layers_are_reproducible(tmp_path):
    src = tmp_path / "layer.tar"
    src.write_bytes(b"x" * 100000)
    a, b = tmp_path / "a.gz", tmp_path / "b.gz"
    assert blobs.gzip_layer(src, a) == blobs.gzip_layer(src, b)
    assert gzip.decompress(a.read_bytes()) == src.read_bytes()

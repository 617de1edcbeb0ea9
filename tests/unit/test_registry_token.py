"""The Bearer token flow against the real distribution registry (Docker Hub's scheme).

The registry is configured with ``auth.token``: it answers 401 with
``Bearer realm=...,service=...,scope=...`` and accepts only JWTs signed by a key whose
certificate is in its ``rootcertbundle``. The test plays the token server (distribution's
``docs/spec/auth/token.md``): it checks Basic credentials and signs an RS256 JWT granting
the scopes asked for. The key is named in the JWT header by its libtrust key id, which is
how the registry finds it in the bundle.
"""

import base64
import datetime
import hashlib
import json
import secrets
import shutil
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from minicontainer.errors import UsageError
from minicontainer.images.store import ImageStore
from minicontainer.registry.login import login
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push
from minicontainer.registry.server import LabRegistry, free_port
from minicontainer.registry.settings import Settings

from registry_fake import FakeRegistry

crypto = pytest.importorskip("cryptography")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key) -> str:
    """docker/libtrust: base32(sha256(DER SubjectPublicKeyInfo)[:30]) in 12 groups of 4, ':'-joined."""
    from cryptography.hazmat.primitives import serialization
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


class TokenServer:
    """Issues JWTs for user alice with ``password``; records every request."""

    def __init__(self, directory, password: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minicontainer test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1)).sign(self.key, hashes.SHA256()))
        self.bundle = directory / "token-ca.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.kid = libtrust_key_id(self.key.public_key())
        self.password = password
        self.http = FakeRegistry()
        self.http.routes[("GET", "/token")] = self._token
        self.realm = f"http://{self.http.host}/token"

    def _token(self, req):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        good = "Basic " + base64.b64encode(f"alice:{self.password}".encode()).decode()
        if req.headers.get("Authorization") != good:
            return 401, {}, b'{"details": "incorrect username or password"}'
        query = parse_qs(urlsplit(req.path).query)
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims = {"iss": "minicontainer-test", "sub": "alice", "aud": query["service"][0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": f"{signing}.{b64url(sig)}"}).encode()

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def token_registry(tmp_path):
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (scripts/install-system-deps.sh installs it)")
    tokens = TokenServer(tmp_path, secrets.token_urlsafe(10))
    reg = LabRegistry(tmp_path / "registry")
    auth = {"token": {"realm": tokens.realm, "service": "minicontainer-lab", "issuer": "minicontainer-test",
                      "rootcertbundle": str(tokens.bundle)}}
    try:
        address = reg.start(free_port(), auth=auth)
        yield address, tokens
    finally:
        reg.stop()
        tokens.close()


def test_push_and_pull_through_the_token_flow(token_registry, tmp_path, image_root):
    address, tokens = token_registry
    settings = Settings(default=address, config_dir=tmp_path / "docker")
    shutil.copytree(image_root, tmp_path / "root", symlinks=True)
    store = ImageStore(tmp_path / "root")
    with pytest.raises(UsageError, match="incorrect username or password"):
        push(store, "busybox", settings, credentials=("alice", "wrong"))
    digest, _ = push(store, "busybox", settings, credentials=("alice", tokens.password))
    scopes = [parse_qs(urlsplit(r.path).query).get("scope") for r in tokens.http.requests]
    assert ["repository:library/busybox:pull,push"] in scopes
    fresh = ImageStore(tmp_path / "fresh")
    assert pull(fresh, "busybox", settings, credentials=("alice", tokens.password)).id == store.resolve("busybox").id
    with pytest.raises(UsageError):
        pull(ImageStore(tmp_path / "anon"), "busybox", settings, credentials=())   # anonymous: the realm refuses
    assert not (tmp_path / "anon" / "images" / "repositories.json").exists()


def test_login_checks_against_the_token_server(token_registry, tmp_path):
    address, tokens = token_registry
    settings = Settings(default=address, config_dir=tmp_path / "docker")
    with pytest.raises(UsageError, match="incorrect username or password"):
        login(settings, address, "alice", "wrong")
    assert login(settings, address, "alice", tokens.password).stat().st_mode & 0o777 == 0o600

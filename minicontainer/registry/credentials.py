"""Registry credentials, kept the way Docker keeps them: ``config.json``'s ``auths``.

``docker login`` stores ``{"auths": {"HOST": {"auth": base64("user:password")}}}`` in
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``); podman and skopeo read
the same file. We use the same file and format, so one login serves all of them, and
we keep every other key in it (``credsStore``, ``proxies``, a CLI's plugins) untouched.
The password is only base64-encoded - not encrypted - so the file is created mode 0600
(owner only) and rewritten atomically. A credential helper (``credsStore``) is not used:
``login`` says so rather than silently writing a password next to it.

Docker Hub's key is historically ``https://index.docker.io/v1/``; other registries are
keyed by ``host[:port]``. See docker-login(1), "Credential stores".
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from ..errors import UsageError
from ..images.reference import DOCKER_HUB
from ..paths import docker_config_dir
from ..records import read_json, write_json

HUB_KEY = "https://index.docker.io/v1/"


def _key(domain: str) -> str:
    return HUB_KEY if domain == DOCKER_HUB else domain


class Credentials:
    """``config.json`` in ``config_dir`` (default: Docker's)."""

    def __init__(self, config_dir=None) -> None:
        self.path = Path(config_dir or docker_config_dir()) / "config.json"

    def _read(self) -> dict:
        data = read_json(self.path, "unreadable credentials file", UsageError) or {}
        if not isinstance(data, dict):
            raise UsageError("credentials file is not a JSON object", op="credentials", path=self.path)
        return data

    def get(self, domain: str) -> tuple[str, str] | None:
        """``(user, password)`` for a registry, or None."""
        entry = (self._read().get("auths") or {}).get(_key(domain)) or {}
        auth = entry.get("auth") if isinstance(entry, dict) else None
        if not auth:
            return None
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise UsageError(f"malformed auth entry for {domain}", op="credentials", path=self.path) from err
        if not sep:
            raise UsageError(f"malformed auth entry for {domain} (want user:password)", op="credentials",
                             path=self.path)
        return user, password

    def store(self, domain: str, user: str, password: str) -> None:
        data = self._read()
        if data.get("credsStore") or (data.get("credHelpers") or {}).get(_key(domain)):
            raise UsageError("this config uses a credential helper, which minicontainer does not speak",
                             op="login", path=self.path)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        data.setdefault("auths", {})[_key(domain)] = {"auth": token}
        write_json(self.path, data, "cannot write credentials", UsageError, mode=0o600)

    def erase(self, domain: str) -> bool:
        """Forget a registry's credentials; False if there were none."""
        data = self._read()
        auths = data.get("auths") or {}
        if _key(domain) not in auths:
            return False
        del auths[_key(domain)]
        write_json(self.path, data, "cannot write credentials", UsageError, mode=0o600)
        return True

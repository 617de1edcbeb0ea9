"""``login``: check credentials against a registry, then keep them (:mod:`.credentials`).

``docker login`` proves the credentials before storing them: ``GET /v2/`` (the API's
version check, distribution spec "Determining support") is answered ``401`` with a
challenge; the client answers it - Basic credentials, or a token fetched from the Bearer
realm with them - and the registry's ``200`` on the repeated request means they are right.
Wrong ones end in ``401`` again: nothing is stored.
"""

from __future__ import annotations

from .credentials import Credentials
from .settings import check_host
from .transport import Session


def verify(settings, server: str, user: str, password: str) -> None:
    """Prove ``user``/``password`` on ``server`` (an error if the registry refuses them).

    dockerd's ``POST /auth`` (``docker login`` through an engine) does only this: the client
    keeps the credentials in its own config.json, the engine keeps nothing."""
    from ..errors import UsageError
    if not user:
        raise UsageError("a user name is required", op="login")
    check_host(server)
    with Session(settings, server, (user, password)) as s:
        s.send("GET", "/v2/", scope=None)     # no challenge at all: an open registry; docker stores them anyway


def login(settings, server: str, user: str, password: str):
    """Verify ``user``/``password`` on ``server`` and store them; returns the file's path."""
    verify(settings, server, user, password)
    creds = Credentials(settings.config_dir)
    creds.store(server, user, password)
    return creds.path

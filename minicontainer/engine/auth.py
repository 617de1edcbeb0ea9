"""``POST /auth``: what ``docker login`` asks an engine (moby swagger ``SystemAuth``).

The client sends ``{"username", "password", "serveraddress"}``; the engine proves them on
the registry (:func:`minicontainer.registry.login.verify`: ``GET /v2/`` and its challenge)
and answers ``{"Status": "Login Succeeded"}``. It stores nothing: the docker CLI keeps the
credentials in its own config.json and sends them with every pull and push afterwards
(``X-Registry-Auth``, read in :mod:`.images`). Refused credentials are a 401, as dockerd's.
Docker Hub is never contacted from here.
"""

from __future__ import annotations

from ..errors import AuthError, MiniContainerError, UsageError
from .errors import HTTPError
from .routes import route

HUB_ADDRESSES = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def server_of(address: str) -> str:
    """``http://127.0.0.1:5000/v2/`` or ``127.0.0.1:5000`` -> ``127.0.0.1:5000``."""
    text = address.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    return text.split("/", 1)[0]


@route("POST", "/auth")
def system_auth(req):
    body = req.json(default=None)
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object with username, password and serveraddress")
    user, password = body.get("username") or "", body.get("password") or ""
    address = body.get("serveraddress") or ""
    if not isinstance(user, str) or not isinstance(password, str) or not isinstance(address, str):
        raise HTTPError(400, "username, password and serveraddress must be strings")
    if body.get("identitytoken"):
        raise HTTPError(400, "identity tokens are not supported: log in with a user name and password")
    if not address or address in HUB_ADDRESSES or server_of(address) in HUB_ADDRESSES:
        raise HTTPError(400, "this engine does not log in to Docker Hub: name a registry "
                             "(docker login 127.0.0.1:5000)")
    from ..registry.login import verify
    from ..registry.settings import Settings
    server = server_of(address)
    try:
        verify(Settings.load(req.engine.root), server, user, password)
    except AuthError as err:
        raise HTTPError(401, f"login attempt to {server} failed: {err}") from err
    except UsageError:
        raise                # a bad server name, no user: a 400 with its own message
    except MiniContainerError as err:
        raise HTTPError(500, f"login attempt to {server} failed: {err}") from err
    return {"Status": "Login Succeeded", "IdentityToken": ""}

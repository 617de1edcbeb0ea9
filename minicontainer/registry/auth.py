"""Registry authentication: the ``WWW-Authenticate`` challenge and the token it asks for.

A registry that wants credentials answers ``401 Unauthorized`` with a challenge
(RFC 7235 section 4.1). Two schemes are used:

* ``Basic realm="..."``: send ``Authorization: Basic base64(user:password)`` on every
  request (the distribution registry with an htpasswd file does this);
* ``Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"``:
  the *token flow* of the distribution spec (``docs/spec/auth/token.md``). The client
  asks the realm for a token - ``GET realm?service=...&scope=...``, with Basic credentials
  when it has some, anonymously otherwise - gets ``{"token": ...}`` back (or
  ``access_token``), then repeats the request with ``Authorization: Bearer <token>``.
  A token is valid for the scope it was asked for (``repository:NAME:pull,push``).

A 401 with no challenge, or one with a scheme we do not know, is refused with one line.
"""

from __future__ import annotations

import base64
import re

from ..errors import UsageError

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str | None) -> tuple[str, dict[str, str]] | None:
    """``'Bearer realm="x",service="y"'`` -> ``("bearer", {"realm": "x", "service": "y"})``;
    None when there is no usable challenge."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            return None
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    if scheme == "bearer" and not params.get("realm"):
        return None
    return scheme, params


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def token_from(body, where: str) -> str:
    """The token in a token endpoint's JSON answer (``token``, or OAuth2's ``access_token``)."""
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise UsageError("token endpoint answered without a token", op="auth", path=where)
    return token


def scope_for(repository: str, actions: str) -> str:
    """The distribution token scope ``repository:NAME:ACTIONS`` (``pull`` or ``pull,push``)."""
    return f"repository:{repository}:{actions}"

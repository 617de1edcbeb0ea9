"""HTTP to one registry: authentication, redirects, and the rules that keep credentials home.

Every request of the distribution API goes through :meth:`Session.send`, which

* adds ``Authorization`` (a cached Bearer token for the request's scope, or Basic);
* on ``401`` reads the ``WWW-Authenticate`` challenge (:mod:`.auth`), fetches a token or
  switches to Basic, and repeats the request once - a 401 without a usable challenge is
  one clear error;
* follows redirects itself (never the HTTP library's automatic following): to the same
  host with credentials; to another host only for a blob download (registries backed by
  object storage send blobs elsewhere) and then *without* ``Authorization``, over HTTPS
  unless the target is itself allowed plain HTTP. Any other redirect to another host is
  refused: a manifest, a token or an upload never leaves the registry it was asked of.

Plain HTTP is used only where :class:`~.settings.Settings` allows it (loopback or
``--insecure-registry``). httpx is imported here, never on the container start path.
"""

from __future__ import annotations

import json
from urllib.parse import urljoin, urlsplit

from ..errors import AuthError, ImageError, MiniContainerError, NotFoundError, UsageError
from . import auth

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
USER_AGENT = "minicontainer/0.1 (distribution client)"


class TransportError(ImageError):
    """The connection failed or broke mid-answer (a resumable upload asks where it stands)."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Session:
    """Requests to the registry ``domain``; ``credentials`` is ``(user, password)`` or None."""

    def __init__(self, settings, domain: str, credentials=None, *, timeout: float = 60.0, client=None) -> None:
        import httpx
        self.settings = settings
        self.domain = domain
        self.base = settings.base_url(domain)
        self.credentials = credentials
        self._httpx = httpx
        self.http_errors = httpx.HTTPError     # what a broken connection raises mid-stream
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=False,
                                              trust_env=not settings.plain_http_allowed(domain),
                                              headers={"User-Agent": USER_AGENT})
        self._tokens: dict[str, str] = {}      # scope -> bearer token
        self._scheme: str | None = None        # "basic" / "bearer" once a challenge has been seen
        self._challenge: dict[str, str] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, path: str) -> str:
        """An API path (``/v2/...``) or a Location header -> an absolute URL on this registry."""
        return urljoin(self.base + "/", path)

    # -- authorization ---------------------------------------------------------------
    def _authorization(self, scope: str | None) -> str | None:
        if self._scheme == "bearer":
            token = self._tokens.get(scope or "")
            return f"Bearer {token}" if token else None
        if self._scheme == "basic" and self.credentials:
            return auth.basic_header(*self.credentials)
        return None

    def _answer_challenge(self, response, scope: str | None, where: str) -> None:
        parsed = auth.parse_challenge(response.headers.get("www-authenticate"))
        if parsed is None:
            raise UsageError("registry answered 401 without a usable WWW-Authenticate challenge",
                             op="auth", path=where)
        self._scheme, self._challenge = parsed
        if self._scheme == "basic":
            if not self.credentials:
                raise UsageError("unauthorized: authentication required (run minicontainer login)",
                                 op="auth", path=where)
            return
        self._tokens[scope or ""] = self._fetch_token(scope, where)

    def _fetch_token(self, scope: str | None, where: str) -> str:
        realm = self._challenge["realm"]
        host = urlsplit(realm).netloc
        if urlsplit(realm).scheme != "https" and not self.settings.plain_http_allowed(host):
            raise UsageError(f"token realm {realm} is not https", op="auth", path=where)
        params = [("service", self._challenge["service"])] if self._challenge.get("service") else []
        params += [("scope", s) for s in (scope or "").split()]     # a push that mounts needs two scopes
        headers = {}
        if self.credentials:
            headers["Authorization"] = auth.basic_header(*self.credentials)
        try:
            r = self._client.get(realm, params=params, headers=headers)
        except self._httpx.HTTPError as err:
            raise ImageError(f"token request failed: {err}", op="auth", path=realm) from err
        if r.status_code in (401, 403):
            raise AuthError("unauthorized: incorrect username or password", op="auth", path=where)
        if r.status_code != 200:
            raise UsageError(f"token endpoint answered {r.status_code}", op="auth", path=realm)
        try:
            return auth.token_from(r.json(), realm)
        except ValueError as err:
            raise UsageError("token endpoint answered malformed JSON", op="auth", path=realm) from err

    # -- requests --------------------------------------------------------------------
    def send(self, method: str, path: str, *, scope: str | None = None, headers=None, content=None,
             params=None, stream: bool = False, blob: bool = False, expect=(200,)):
        """One API call; returns the httpx response (streaming ones must be closed by the
        caller). ``blob`` allows a cross-host redirect (without credentials); ``expect``
        lists the statuses that are success, any other is raised as one error."""
        url = self.url(path)
        if _origin(url) != _origin(self.base):
            raise ImageError(f"registry pointed to another host ({_origin(url)}): refused", op=method.lower(),
                             path=path)
        if params:      # merged into the URL's own query (an upload Location carries its _state)
            url = str(self._httpx.URL(url).copy_merge_params(params))
        retried = False
        with_auth = True
        for _ in range(MAX_REDIRECTS + 2):
            h = dict(headers or {})
            authz = self._authorization(scope) if with_auth else None
            if authz:
                h["Authorization"] = authz
            try:
                request = self._client.build_request(method, url, headers=h, content=content)
                response = self._client.send(request, stream=True)
            except self._httpx.HTTPError as err:
                raise TransportError(f"{method} {urlsplit(url).path} failed: {err}", op="registry",
                                     path=self.domain) from err
            if response.status_code == 401 and with_auth and not retried:
                response.close()
                self._answer_challenge(response, scope, str(self))
                retried = True
                continue
            if response.status_code in REDIRECTS and "location" in response.headers:
                response.close()
                url, with_auth = self._redirect(url, response.headers["location"], blob, with_auth)
                continue
            if response.status_code not in expect:
                self._fail(response, method, url)
            if not stream:
                response.read()
                response.close()
            return response
        raise ImageError("too many redirects", op=method.lower(), path=url)

    def _redirect(self, url: str, location: str, blob: bool, with_auth: bool) -> tuple[str, bool]:
        target = urljoin(url, location)
        parts = urlsplit(target)
        if _origin(target) == _origin(self.base):
            return target, with_auth
        if not blob:
            raise ImageError(f"registry redirected to another host ({parts.netloc}): refused", op="redirect",
                             path=self.domain)
        if parts.scheme != "https" and not (parts.scheme == "http" and self.settings.plain_http_allowed(parts.netloc)):
            raise ImageError(f"registry redirected a blob to {parts.scheme}://{parts.netloc}: refused (not https)",
                             op="redirect", path=self.domain)
        return target, False      # never send this registry's credentials to another host

    def _fail(self, response, method: str, url: str):
        """Raise the registry's error (distribution spec: ``{"errors": [{"code", "message"}]}``)."""
        try:
            body = response.read()
        finally:
            response.close()
        code, message = "", ""
        try:
            first = (json.loads(body[:65536]).get("errors") or [{}])[0]
            code, message = str(first.get("code", "")), str(first.get("message", ""))
        except (ValueError, AttributeError, TypeError, IndexError):
            pass
        text = f"{code.lower().replace('_', ' ')}: {message}" if code else f"HTTP {response.status_code}"
        where = f"{self.domain}{urlsplit(url).path}"
        if response.status_code == 404:
            raise NotFoundError(text, op=method.lower(), path=where)
        if response.status_code in (401, 403):
            raise AuthError(text if code else "unauthorized: authentication required", op=method.lower(), path=where)
        raise MiniContainerError(text, op=method.lower(), path=where)

    def __str__(self) -> str:
        return self.domain

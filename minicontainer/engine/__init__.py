"""``minicontainer engine``: the Docker Engine API over a unix socket.

The engine is what the course's first chapter calls the *Docker host*: a server the
``docker`` command (or docker-py) talks HTTP to, over ``/run/minicontainer/engine.sock``.
It is a thin layer over the same library the CLI uses (one :class:`Runtime`, one image
store, one set of file locks), so the CLI and the engine can work on one state root at
the same time. The API reference is moby's ``api/swagger.yaml``.

Layout (one job per module):

- ``server.py``   the listening socket, HTTP/1.1 on a thread per connection, hijacking
- ``routes.py``   the route table, :class:`Request` and the response helpers
- ``errors.py``   library errors -> Docker's status codes and ``{"message": ...}`` bodies
- ``ping.py``     ``/_ping`` and ``/version`` (API version negotiation)
- ``containers.py``, ``create.py``, ``attach.py``, ``exec.py``, ``files.py``, ``stats.py``   containers
- ``images.py``, ``auth.py``, ``build.py``, ``system.py``, ``networks.py``, ``volumes.py``   the rest

How to add endpoints (a module of this package)::

    from .routes import route, json_response, no_content, json_stream, raw_stream, hijack
    from .errors import HTTPError

    @route("GET", "/images/{name:path}/json")        # {x} is one path segment, {x:path} may hold '/'
    def image_inspect(req):
        img = req.engine.runtime.images().resolve(req.params["name"])   # library errors map themselves
        return json_response(img.to_docker())

    @route("POST", "/build", max_body=None)          # max_body: None = no cap (streamed with req.stream())
    def build(req):
        tag = req.arg("t")                          # last value of ?t=; req.args("t") -> every value
        nocache = req.flag("nocache")               # 1/true/True -> True
        filters = req.filters()                     # ?filters={"label":["a=b"]} -> {"label": ["a=b"]}
        ctx = req.stream()                          # a file-like reader (Content-Length or chunked)
        return json_stream(progress_dicts(...))     # one JSON document per line, flushed as produced

Then add the module's name to ``MODULES`` below. Paths are written unversioned: the
server strips ``/v1.NN`` and keeps it as ``req.api_version``. A handler returns a
response made by a helper (or a bare dict/list: JSON, 200); it raises a
:class:`~minicontainer.errors.MiniContainerError` (NotFoundError 404, ConflictError 409,
UsageError 400, StateError 409, others 500) or an :class:`~.errors.HTTPError(status, text)`.
A HEAD request with no HEAD route is served by the GET route with its body dropped.
A long stream should stop when ``req.disconnected()`` says the client left.
``req.engine`` is the :class:`~.server.Engine`: ``.root`` (the state root), ``.runtime``
(a Runtime on that root), ``.log`` (a logger).
"""

# modules whose @route handlers the server loads, in this order (a missing one is skipped)
MODULES = ("ping", "containers", "exec", "attach", "files", "images", "auth", "build", "system", "networks",
           "volumes")

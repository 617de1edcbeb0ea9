"""``POST /build``: the classic builder endpoint, over the project's own builder and cache.

``docker build -t app .`` (with ``DOCKER_BUILDKIT=0``, or when the CLI finds no buildx
plugin) tars the context directory and sends it as the request body; the query carries the
flags: ``dockerfile`` (a path inside the context), ``t`` (repeatable), ``buildargs`` and
``labels`` (JSON objects), ``nocache``, ``target``, ``q``. The answer is a stream of JSON
messages, one a line, that the CLI prints as they come::

    {"stream": "Step 1/3 : FROM busybox\\n"}
    {"stream": " ---> 2d2e1c7f7a3b\\n"}
    ...
    {"aux": {"ID": "sha256:..."}}
    {"stream": "Successfully built 2d2e1c7f7a3b\\n"}
    {"stream": "Successfully tagged app:latest\\n"}

A failure after the stream has begun cannot change the HTTP status any more, so it is the
last message: ``{"errorDetail": {"message": ...}, "error": ...}`` (the CLI prints it and
exits 1). Everything that can be checked before building (the flags, the tags, that the
body is a tar) is checked first and answered with a plain JSON error and its status.

The context is unpacked by the image code's confined unpacker (no path leaves the folder,
no device nodes), in a scratch folder under the state root that is removed at the end. The
work itself is :class:`minicontainer.build.builder.Builder`, exactly as ``minicontainer
build`` runs it, so both share one layer cache: a step built by either is a
``---> Using cache`` for the other. ``networkmode`` is the RUN steps' network (``build
--network``: the default bridge, none, host or a network's name). Flags that would change how
RUN steps are isolated in ways not built here (``memory``, ``cpushares`` ...) are refused by
name, never ignored; ``rm``,
``forcerm`` and ``pull`` are accepted (step containers are always removed; there is no
registry to pull from).
"""

from __future__ import annotations

import json

from ..files import discard_tree
from ..errors import ImageError
from . import kit
from .errors import HTTPError
from .routes import route

# query parameters that would change the isolation of RUN steps or the kind of build: refused when set
REFUSED = {"remote": "a remote build context (git or URL)", "extrahosts": "extra /etc/hosts entries",
           "memory": "a memory limit for RUN steps", "memswap": "a swap limit for RUN steps",
           "cpushares": "CPU shares for RUN steps", "cpusetcpus": "a cpuset for RUN steps",
           "cpuperiod": "a CPU period for RUN steps", "cpuquota": "a CPU quota for RUN steps",
           "shmsize": "a /dev/shm size for RUN steps", "squash": "squashing layers",
           "outputs": "build outputs", "ulimits": "ulimits for RUN steps", "isolation": "an isolation mode"}
ZERO = ("", "0", "false", "[]", "{}", "null", "default")


def _json_map(req, name: str) -> dict[str, str]:
    text = req.arg(name)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise HTTPError(400, f"invalid {name}: {err}") from err
    if not isinstance(value, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                              for k, v in value.items()):
        raise HTTPError(400, f"invalid {name}: expected a JSON object of strings")
    return value


def options_from(req) -> dict:
    """The builder's options from the query, every refusal before the body is read."""
    for name, what in REFUSED.items():
        if (req.arg(name) or "").strip().lower() not in ZERO:
            raise HTTPError(400, f"{name} is not supported: {what} (minicontainer's builder runs RUN steps "
                                 f"with no resource limits)")
    network = req.arg("networkmode") or ""
    network = None if network in ("", "default") else network       # None: the builder's default (bridge)
    if network not in (None, "none", "host", "bridge"):
        from ..network import NetworkStore
        NetworkStore(req.engine.root).inspect(network)      # a 404 before the body is read
    if req.arg("version") == "2":
        raise HTTPError(400, "BuildKit (version=2) is not supported: use the classic builder (DOCKER_BUILDKIT=0)")
    platform = req.arg("platform") or ""
    if platform:
        from ..images.busybox import arch
        if platform.split("/")[:2] != ["linux", arch()][:len(platform.split("/")[:2])]:
            raise HTTPError(400, f"platform {platform!r} is not supported (this host builds linux/{arch()})")
    from ..images import reference
    tags = [reference.normalize(t) for t in req.args("t") if t]   # a bad tag is a 400 before any work
    dockerfile = req.arg("dockerfile") or "Dockerfile"
    parts = [p for p in dockerfile.replace("\\", "/").split("/") if p not in ("", ".")]
    if dockerfile.startswith("/") or ".." in parts or not parts:
        raise HTTPError(400, f"the Dockerfile must be inside the build context: {dockerfile!r}")
    build_args = {k: v for k, v in _json_map(req, "buildargs").items() if v is not None}
    return {"tags": tags, "dockerfile": "/".join(parts), "build_args": build_args,
            "labels": {k: v or "" for k, v in _json_map(req, "labels").items()},
            "no_cache": req.flag("nocache"), "target": req.arg("target") or None, "quiet": req.flag("q"),
            "network": network}


def unpack_context(req, scratch):
    """The uploaded context tar (plain or gzip) unpacked into ``scratch/context``; 400 if it is not one."""
    from ..images.extract import unpack_file
    upload = kit.body_to_file(req, scratch / "context.tar")
    dest = scratch / "context"
    try:
        unpack_file(upload, dest, whiteouts="keep", allow_devices=False, same_owner=False)
    except ImageError as err:
        raise HTTPError(400, f"the build context is not a valid tar archive: {err}") from err
    finally:
        upload.unlink(missing_ok=True)
    return dest


class _Out:
    """The builder's output as JSON messages to ``report`` (the ID goes out before 'Successfully built')."""

    def __init__(self, report, store, quiet: bool):
        self.report, self.store, self.quiet = report, store, quiet

    def write(self, text: str) -> int:
        if text.startswith("Successfully built "):
            image = self.store.resolve(text.split()[2])
            self.report({"aux": {"ID": image.id}})
            if self.quiet:
                self.report({"stream": image.id + "\n"})
        if text and not self.quiet:
            self.report({"stream": text})
        return len(text)

    def flush(self) -> None:
        pass


@route("POST", "/build", max_body=None)
def build(req):
    from ..build.builder import Builder, BuildOptions
    opts = options_from(req)
    scratch = kit.scratch_dir(req)
    try:
        context = unpack_context(req, scratch)
        dockerfile = context / opts["dockerfile"]
        if not dockerfile.is_file():
            raise HTTPError(400, f"cannot locate the Dockerfile {opts['dockerfile']!r} in the build context")
    except BaseException:
        discard_tree(scratch, "engine")
        raise
    builder = Builder(req.engine.root, out=None)

    def work(report):
        builder.out = _Out(report, builder.store, opts["quiet"])
        builder.build(BuildOptions(context=context, dockerfile=dockerfile, tags=opts["tags"],
                                   build_args=opts["build_args"], no_cache=opts["no_cache"],
                                   target=opts["target"], labels=opts["labels"], network=opts["network"]))
    return kit.progress_stream(req, work, what="build", cleanup=lambda: discard_tree(scratch, "engine"))

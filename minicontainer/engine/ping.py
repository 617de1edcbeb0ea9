"""``/_ping`` and ``/version``: how a client learns which API version to speak.

The docker CLI sends ``HEAD /_ping`` (unversioned) before every command and downgrades
to the ``Api-Version`` header it gets back (with no header it assumes 1.24 and falls
back to old behaviours, such as removing ``--rm`` containers itself). docker-py asks
``GET /version``. Paths are then sent with a ``/v1.NN`` prefix, which the server strips.
"""

from __future__ import annotations

import os
import platform

from .. import __version__
from .routes import Response, json_response, route

API_VERSION = "1.45"        # what the engine speaks (Docker 26's API)
MIN_API_VERSION = "1.24"    # the oldest prefix it accepts

PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Docker-Experimental": "false",
    "OSType": "linux",
    "Builder-Version": "1",          # the classic builder (POST /build); no BuildKit
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


@route("GET", "/_ping")
def ping(req):
    return Response(200, {"Content-Type": "text/plain; charset=utf-8", **PING_HEADERS}, b"OK")


@route("HEAD", "/_ping")
def ping_head(req):
    return Response(200, {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "0",
                          **PING_HEADERS}, b"")


def version_document() -> dict:
    uname = platform.uname()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(uname.machine, uname.machine)
    return {
        "Platform": {"Name": "minicontainer engine"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": arch, "KernelVersion": uname.release}}],
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": uname.release,
        "BuildTime": "",
        "Experimental": False,
        "Rootless": os.geteuid() != 0,
    }


@route("GET", "/version")
def version(req):
    return json_response(version_document(), headers=PING_HEADERS | {"Content-Type": "application/json"})

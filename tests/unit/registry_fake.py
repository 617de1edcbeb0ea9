"""A registry that lies on purpose: a small HTTP server on 127.0.0.1 for the client's tests.

Routes map ``(method, path)`` to an answer ``(status, headers, body)`` or to a function
of the request returning one; an answer's ``truncate`` header sends only that many body
bytes of the announced ``Content-Length`` and drops the connection. Every request is
recorded (method, path with query, headers) so a test can prove what was *not* asked.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from minicontainer.images import spec


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


class FakeRegistry:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict = {}
        self.requests: list[Request] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Request(self.command, self.path, dict(self.headers), body)
                fake.requests.append(req)
                answer = fake.routes.get((self.command, req.route))
                if answer is None:
                    answer = (404, {"Content-Type": "application/json"},
                              json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "no route"}]}).encode())
                if callable(answer):
                    answer = answer(req)
                if answer == "drop":
                    self.close_connection = True
                    return
                status, headers, payload = answer
                headers = dict(headers)
                cut = headers.pop("truncate", None)
                self.send_response(status)
                if "Content-Length" not in headers:
                    headers["Content-Length"] = str(len(payload))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload if cut is None else payload[:int(cut)])
                if cut is not None:
                    self.close_connection = True

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                import sys
                if not isinstance(sys.exc_info()[1], ConnectionError):   # a client that stopped reading: expected
                    super().handle_error(request, client_address)

        self.server = Server((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def asked(self, method: str, route: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.route == route)

    # -- serving an image ------------------------------------------------------------
    def serve_image(self, repo: str, tag: str, image: "Image", *, manifest_type: str = spec.OCI_MANIFEST) -> None:
        headers = {"Content-Type": manifest_type, "Docker-Content-Digest": image.manifest_digest}
        for ref in (tag, image.manifest_digest):
            self.routes[("GET", f"/v2/{repo}/manifests/{ref}")] = (200, headers, image.manifest)
        for digest, data in image.blobs.items():
            self.routes[("GET", f"/v2/{repo}/blobs/{digest}")] = (200, {"Content-Type": "application/octet-stream"},
                                                                  data)


class Image:
    """A one-layer image: a gzipped layer holding ``files``, its config and OCI manifest."""

    def __init__(self, files: dict[str, bytes] | None = None, *, layer_type: str = spec.OCI_LAYER_GZIP,
                 arch: str = "amd64") -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in (files or {"hello.txt": b"hello from the fake registry\n"}).items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        self.tar = buf.getvalue()
        self.diff_id = sha(self.tar)
        self.layer = gzip.compress(self.tar, mtime=0) if "gzip" in layer_type else self.tar
        if layer_type.endswith("+zstd"):
            import zstandard
            self.layer = zstandard.ZstdCompressor().compress(self.tar)
        self.config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                                  "rootfs": {"type": "layers", "diff_ids": [self.diff_id]}}).encode()
        self.layer_desc = {"mediaType": layer_type, "digest": sha(self.layer), "size": len(self.layer)}
        self.manifest = json.dumps({"schemaVersion": 2, "mediaType": spec.OCI_MANIFEST,
                                    "config": {"mediaType": spec.OCI_CONFIG, "digest": sha(self.config),
                                               "size": len(self.config)},
                                    "layers": [self.layer_desc]}).encode()
        self.manifest_digest = sha(self.manifest)
        self.blobs = {sha(self.config): self.config, sha(self.layer): self.layer}

    @property
    def id(self) -> str:
        return sha(self.config)


def index_of(entries: list[tuple[Image, str, str]]) -> bytes:
    """An OCI index over ``(image, os, architecture)`` entries."""
    return json.dumps({"schemaVersion": 2, "mediaType": spec.OCI_INDEX,
                       "manifests": [{"mediaType": spec.OCI_MANIFEST, "digest": im.manifest_digest,
                                      "size": len(im.manifest), "platform": {"os": o, "architecture": a}}
                                     for im, o, a in entries]}).encode()

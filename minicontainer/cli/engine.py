"""``minicontainer engine``: serve the Docker Engine API on a unix socket, in the foreground."""

from __future__ import annotations

import logging
import os
import sys


def add_arguments(parser) -> None:
    default = os.environ.get("MINICONTAINER_ENGINE_HOST") or os.environ.get("MINICONTAINER_HOST")
    parser.add_argument("-H", "--host", default=default,
                        help="unix:///PATH to listen on (default /run/minicontainer/engine.sock for root, "
                             "$XDG_RUNTIME_DIR/minicontainer/engine.sock for a user)")
    parser.add_argument("--trace", action="store_true",
                        help="log, for each API call, the kernel steps it caused")
    parser.add_argument("--debug", action="store_true", help="log more (client errors, connection errors)")


def execute(args) -> int:
    log = logging.getLogger("minicontainer.engine")   # one line per request, on stderr
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.debug else logging.INFO)
    log.propagate = False
    from ..engine.server import serve
    return serve(args.host, args.root, trace=args.trace)

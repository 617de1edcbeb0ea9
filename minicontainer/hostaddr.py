"""The engine's address as ``-H`` spells it (dockerd(8), docker(1)): ``unix:///PATH`` only.

One parser for both sides: the engine listening (``minicontainer engine -H``) and a client
sending (``minicontainer -H``), so both accept and refuse the same spellings. Kept free of
imports beyond the error family, since every client start reads it.
"""

from __future__ import annotations

from .errors import UsageError


def unix_socket(host: str, op: str) -> str:
    """``unix:///run/x.sock`` (or a bare absolute path) -> ``/run/x.sock``; TCP and the rest are refused:
    the Docker API has no authentication, so the engine listens on nothing but a unix socket."""
    if host.startswith("unix://"):
        host = host[len("unix://"):]
    elif "://" in host or host.startswith(("tcp:", "fd:")):
        raise UsageError(f"unsupported host {host!r}: the engine listens only on a unix socket (unix:///PATH)",
                         op=op)
    if not host.startswith("/"):
        raise UsageError(f"the socket path {host!r} must be absolute", op=op)
    return host

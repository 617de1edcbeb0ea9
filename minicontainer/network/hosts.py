"""The container's /etc/hosts and /etc/resolv.conf.

A container has its own root filesystem, so it does not see the host's name files.
Like Docker, the runtime writes two small files into the container's state directory
and bind-mounts them over /etc/hosts and /etc/resolv.conf (mount(2) with MS_BIND):

* ``hosts`` (hosts(5)): localhost, the container's own name, and the names of the
  other containers on the same network; that is how ``ping web`` works without DNS.
  When a container joins or leaves, every member's file is rewritten. It is rewritten
  *in place* (open, write, truncate): a bind mount pins the inode, so replacing the file
  with rename(2) would leave the container looking at the old one.
* ``resolv.conf`` (resolv.conf(5)): the host's, minus nameservers on loopback
  (127.0.0.53 is systemd-resolved on the *host's* lo, unreachable from a container's
  own network namespace; with ``--network host`` the file is the host's, unchanged).
  When only loopback nameservers were there, Docker falls back to public resolvers; we
  invent none: the file keeps the host's other lines and a warning says names will not
  resolve. The container's DNS queries reach the host's nameservers through the NAT
  (``nat.py``), like any other traffic.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from .. import log
from ..errors import NetworkError

HOSTS_FILE = "hosts"
RESOLV_FILE = "resolv.conf"
HOST_RESOLV_CONF = Path("/etc/resolv.conf")


def hosts_text(own: list[tuple[str, list[str]]], peers: list[tuple[str, list[str]]]) -> str:
    """The hosts(5) file: ``own`` are this container's (address, names), ``peers`` the others'."""
    lines = ["127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet",
             "ff00::0\tip6-mcastprefix",
             "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    for addr, names in own:
        lines.append(f"{addr}\t{' '.join(_unique(names))}")
    if peers:
        lines.append("# other containers on the same network")
        for addr, names in sorted(peers, key=lambda p: ipaddress.ip_address(p[0])):
            lines.append(f"{addr}\t{' '.join(_unique(names))}")
    return "\n".join(lines) + "\n"


def _unique(names):
    seen = []
    for n in names:
        if n and n not in seen:
            seen.append(n)
    return seen


def resolv_text(host_text: str) -> str:
    """The host's resolv.conf without loopback nameservers (a note says what was dropped)."""
    out, dropped = [], []
    for line in host_text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                if ipaddress.ip_address(fields[1].split("%")[0]).is_loopback:
                    dropped.append(fields[1])
                    continue
            except ValueError:
                pass
        out.append(line)
    if dropped:
        out.append(f"# minicontainer: dropped loopback nameserver(s) {' '.join(dropped)}, "
                   "unreachable from a container")
    return "\n".join(out) + "\n"


def write_in_place(path: Path, text: str) -> None:
    """Replace a file's content keeping its inode (it may be bind-mounted into a container)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.truncate()
    except OSError as err:
        raise NetworkError(f"cannot write: {(err.strerror or str(err)).lower()}", op="write", path=path) from err


def nameservers(text: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf text."""
    return [f[1] for f in (line.split() for line in text.splitlines()) if len(f) >= 2 and f[0] == "nameserver"]


def write_resolv_conf(directory: Path, host_resolv: Path = HOST_RESOLV_CONF, *, host_network: bool = False,
                      warn: bool = True) -> Path:
    """Write ``resolv.conf`` into ``directory`` from the host's file (empty if it has none).

    ``host_network``: the container shares the host's lo, so the file is copied unchanged.
    ``warn``: say so (logging, warning level) when every host nameserver was on loopback."""
    try:
        host_text = Path(host_resolv).read_text()
    except FileNotFoundError:
        host_text = ""
    except OSError as err:
        raise NetworkError(f"cannot read: {(err.strerror or str(err)).lower()}", op="read", path=host_resolv) from err
    text = host_text if host_network else resolv_text(host_text)
    if warn and not host_network and nameservers(host_text) and not nameservers(text):
        log.warn(
            "network", "the host's only nameservers (%s in %s) are on loopback, unreachable from a container: "
            "names will not resolve inside it (give the host a nameserver on a real interface)",
            " ".join(nameservers(host_text)), host_resolv)
    path = Path(directory) / RESOLV_FILE
    write_in_place(path, text if text.endswith("\n") or not text else text + "\n")
    return path

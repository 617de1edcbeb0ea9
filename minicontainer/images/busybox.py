"""The base image: a root filesystem made of one static binary.

A container needs *some* root filesystem. Docker pulls ``busybox`` from a registry; we
have no registry, so we build the same thing from the host: busybox is one statically
linked program (Debian package ``busybox-static``) that acts as ~300 commands depending
on the name it is called by (argv[0]). The image is that binary at ``/bin/busybox``, one
symbolic link per applet (``busybox --list-full`` says where each lives), the few files
every program expects in ``/etc``, and empty ``/proc``, ``/sys``, ``/dev`` mount points.
Being static, it needs no ``/lib``: the dynamic loader (ld.so(8)) never runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..errors import ImageError, NotFoundError

PACKAGE = "busybox-static"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "etc/hostname": "busybox\n",
}
_DIRS = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
         "dev": 0o755, "proc": 0o555, "sys": 0o555, "tmp": 0o1777, "root": 0o700, "home": 0o755,
         "var": 0o755}


def find_busybox(candidates) -> Path:
    """The first candidate that is a statically linked busybox, or NotFoundError naming the package."""
    for path in map(Path, candidates):
        if path.is_file() and os.access(path, os.X_OK) and _is_static(path):
            return path
    names = ", ".join(str(p) for p in candidates)
    raise NotFoundError(f"no static busybox found (looked at {names}): install the {PACKAGE} package",
                        op="pull busybox")


def _is_static(path: Path) -> bool:
    """An ELF file without a PT_INTERP program header (no dynamic loader) is static."""
    import struct
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:   # 64-bit ELF only
                return False
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # 3 = PT_INTERP


def applets(busybox: Path) -> list[str]:
    """Applet paths relative to / (``usr/bin/wget``...), from ``busybox --list-full``."""
    try:
        out = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise ImageError(f"cannot list busybox applets: {err}", op="pull busybox", path=busybox) from err
    paths = []
    for line in out.split():
        rel = line.strip().lstrip("/")
        parts = rel.split("/")
        if rel and ".." not in parts and "" not in parts and rel != "bin/busybox":
            paths.append(rel)
    return sorted(set(paths))


def build_tree(dest: Path, busybox: Path) -> None:
    """Fill the empty directory ``dest`` with the busybox root filesystem."""
    for rel, mode in _DIRS.items():
        d = dest / rel
        d.mkdir(exist_ok=True)
        os.chmod(d, mode)          # explicit: mkdir's mode is filtered by the umask
    shutil.copyfile(busybox, dest / "bin/busybox")
    os.chmod(dest / "bin/busybox", 0o755)
    for rel in applets(busybox):
        link = dest / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(link):
            # relative, so the link also works when the layer is looked at from the host
            os.symlink(os.path.relpath("bin/busybox", os.path.dirname(rel) or "."), link)
    for rel, text in _FILES.items():
        (dest / rel).write_text(text)
        os.chmod(dest / rel, 0o644)


def arch() -> str:
    """The OCI (Go) name of this machine's architecture."""
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def config_for(diff_id: str, busybox: Path, created: str) -> dict:
    """The OCI image config of the busybox image (one layer)."""
    return {
        "architecture": arch(),
        "os": "linux",
        "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created,
                     "created_by": f"minicontainer pull busybox (from the host's {busybox}, {PACKAGE})"}],
    }

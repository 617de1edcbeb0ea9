"""Kernel modules: find a module's file and the modules it needs, in load order.

Much of a distribution kernel is built as loadable modules (``.ko`` files, ELF
objects) rather than into the image. A module can only be loaded after the modules
whose symbols it uses: ``9p.ko`` needs ``9pnet.ko`` and ``netfs.ko``. ``modprobe(8)``
finds that order in ``modules.dep``, which ``depmod(8)`` writes when a kernel is
*installed*; we only unpacked the package, so there is none. But every module carries
its own list in its ELF section ``.modinfo`` (``depends=a,b``; see ``modinfo(8)``),
which is what this module reads. Inside the guest, busybox's ``insmod`` then loads the
files one by one in the order computed here.

Modules may be compressed (``.ko.xz`` since some distributions' 6.x kernels); xz is
undone here in Python with :mod:`lzma`, because busybox's insmod wants a plain ELF.
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

from .errors import NotFoundError, UsageError

SUFFIXES = (".ko", ".ko.xz")


def module_name(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.replace("-", "_")   # the kernel treats - and _ in module names alike


def read_module(path: Path) -> bytes:
    """The module's ELF bytes, decompressed if needed."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        try:
            return lzma.decompress(data)
        except lzma.LZMAError as err:
            raise UsageError(f"cannot decompress module ({err})", op="read module", path=path) from err
    return data


def modinfo(elf: bytes) -> dict[str, str]:
    """The key=value strings of an ELF64 object's ``.modinfo`` section."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise UsageError("not a 64-bit ELF kernel module", op="read modinfo")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i: int) -> tuple[int, int, int]:   # (name offset, file offset, size)
        base = shoff + i * shentsize
        name, = struct.unpack_from("<I", elf, base)
        offset, size = struct.unpack_from("<QQ", elf, base + 0x18)
        return name, offset, size

    _, str_off, str_size = section(shstrndx)
    names = elf[str_off:str_off + str_size]
    for i in range(shnum):
        name_at, offset, size = section(i)
        if names[name_at:names.index(b"\0", name_at)] == b".modinfo":
            info: dict[str, str] = {}
            for item in elf[offset:offset + size].split(b"\0"):
                key, sep, value = item.decode(errors="replace").partition("=")
                if sep and key not in info:
                    info[key] = value
            return info
    return {}


class ModuleIndex:
    """All modules under ``lib/modules/<release>/kernel``, by name."""

    def __init__(self, modules_dir: Path) -> None:
        self.modules_dir = Path(modules_dir)
        self.paths: dict[str, Path] = {}
        builtin = self.modules_dir / "modules.builtin"
        self.builtin = set()
        if builtin.is_file():
            self.builtin = {module_name(Path(line.strip())) for line in builtin.read_text().split()}
        for path in sorted((self.modules_dir / "kernel").rglob("*.ko*")):
            if path.name.endswith(SUFFIXES):
                self.paths.setdefault(module_name(path), path)

    def depends(self, name: str) -> list[str]:
        info = modinfo(read_module(self.path(name)))
        return [d for d in info.get("depends", "").split(",") if d]

    def path(self, name: str) -> Path:
        key = name.replace("-", "_")
        if key not in self.paths:
            raise NotFoundError(f"no module {name!r} in this kernel's module tree", op="resolve module",
                                path=self.modules_dir)
        return self.paths[key]

    def load_order(self, wanted: list[str]) -> list[Path]:
        """The files to insmod so that every module's dependencies come first."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            key = name.replace("-", "_")
            if key in order or key in self.builtin:
                return
            if key in visiting:
                raise UsageError(f"module dependency cycle through {key!r}", op="resolve module")
            visiting.add(key)
            for dep in self.depends(key):
                visit(dep)
            visiting.discard(key)
            order.append(key)

        for name in wanted:
            visit(name)
        return [self.paths[name] for name in order]

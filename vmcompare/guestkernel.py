"""The guest kernel: which Linux the virtual machine boots, and where it comes from.

A VM needs its own kernel: unlike a container, it does not share the host's. We use
Debian's packaged kernels, fetched with ``apt-get download`` (no root needed, nothing
installed on the host) and unpacked with ``dpkg -x`` into a cache under the build
directory. Two flavours are kept, because they differ in one way that matters here:

* ``cloud`` (``linux-image-cloud-amd64``): built for VMs, few drivers, ~14 MB; boots
  fastest, so every timing uses it;
* ``generic`` (``linux-image-amd64``): Debian's normal kernel. The cloud kernel is
  built without 9p (``# CONFIG_NET_9P is not set`` in its config), so a guest that must
  see a host folder over virtio-9p (``run_in_guest(share=...)``) boots this one.

``linux-image-*-amd64`` are metapackages: their ``Depends:`` names the real, versioned
package (``linux-image-6.1.0-NN-cloud-amd64``), which holds ``boot/vmlinuz-*`` and
``lib/modules/<release>/``. We keep the vmlinuz, the config and the part of the module
tree a guest can use (filesystems, network, virtio), then write a small manifest last:
a cache with a manifest is complete, so a second ``fetch`` downloads nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from minicontainer.paths import project_build_dir

from .errors import KernelFetchError, NotFoundError, UsageError

FLAVOURS = {"cloud": "linux-image-cloud-amd64", "generic": "linux-image-amd64"}
DEFAULT_FLAVOUR = "cloud"
SHARE_FLAVOUR = "generic"   # the one with 9p modules
MANIFEST = "kernel.json"
# The parts of lib/modules/<release>/kernel a small guest can use; sound, GPUs, wifi... are dropped.
KEEP_MODULES = ("fs", "net", "lib", "crypto", "drivers/virtio", "drivers/block", "drivers/char",
                "drivers/net/virtio_net.ko", "drivers/net/net_failover.ko")
_LISTS_MISSING = re.compile(r"unable to locate package|has no installation candidate|can't select", re.I)


def guest_dir(build_dir: Path | None = None) -> Path:
    return (build_dir or project_build_dir()) / "guest"


@dataclass(frozen=True)
class GuestKernel:
    """A bootable kernel image, and its modules directory when we have one."""

    vmlinuz: Path
    release: str = "unknown"
    flavour: str = "custom"
    modules_dir: Path | None = None
    package: str = ""

    @property
    def label(self) -> str:
        return f"{self.release} ({self.flavour})" if self.flavour != "custom" else str(self.vmlinuz)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> "GuestKernel":
        """``--kernel PATH``: a vmlinuz, or a cache directory holding a manifest."""
        p = Path(path).absolute()
        if (p / MANIFEST).is_file():
            return _from_manifest(p)
        if not p.is_file():
            raise NotFoundError("no such kernel image", op="find guest kernel", path=p)
        release = re.sub(r"^vmlinu[xz]-?", "", p.name) or "unknown"
        modules = p.parent.parent / "lib" / "modules" / release
        return cls(vmlinuz=p, release=release, modules_dir=modules if modules.is_dir() else None)


def _from_manifest(flavour_dir: Path) -> GuestKernel:
    try:
        info = json.loads((flavour_dir / MANIFEST).read_text())
        vmlinuz = flavour_dir / info["vmlinuz"]
        modules = flavour_dir / info["modules"] if info.get("modules") else None
    except (OSError, ValueError, KeyError) as err:
        raise NotFoundError(f"unreadable kernel manifest ({err})", op="find guest kernel",
                            path=flavour_dir / MANIFEST) from err
    if not vmlinuz.is_file():
        raise NotFoundError("manifest names a missing kernel image", op="find guest kernel", path=vmlinuz)
    return GuestKernel(vmlinuz=vmlinuz, release=info.get("release", "unknown"), flavour=info.get("flavour", "?"),
                       modules_dir=modules, package=info.get("package", ""))


def cached_kernel(flavour: str = DEFAULT_FLAVOUR, build_dir: Path | None = None) -> GuestKernel | None:
    """The cached kernel of a flavour, or None when it has not been fetched yet."""
    d = guest_dir(build_dir) / flavour
    if not (d / MANIFEST).is_file():
        return None
    try:
        return _from_manifest(d)
    except NotFoundError:
        return None


def find_kernel(kernel: "str | os.PathLike | GuestKernel | None" = None, flavour: str = DEFAULT_FLAVOUR,
                build_dir: Path | None = None) -> GuestKernel:
    """``--kernel`` wins; otherwise the cached kernel of ``flavour`` (NotFoundError if absent)."""
    if isinstance(kernel, GuestKernel):
        return kernel
    if kernel:
        return GuestKernel.from_path(kernel)
    found = cached_kernel(flavour, build_dir)
    if found is None:
        raise NotFoundError(f"no cached {flavour} guest kernel (run 'vmcompare fetch-kernel')",
                            op="find guest kernel", path=guest_dir(build_dir) / flavour)
    return found


def _apt(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["apt-get", "-q", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as err:
        raise KernelFetchError("apt-get not found (a Debian or Ubuntu host is needed, or pass --kernel)",
                               op="fetch guest kernel") from err


def _download(package: str, cwd: Path, log, updated: list[bool]) -> Path:
    """``apt-get download``; when the package lists are missing, ``apt-get update`` once and retry."""
    result = _apt(["download", package], cwd)
    if result.returncode != 0 and _LISTS_MISSING.search(result.stderr) and not updated[0]:
        log(f"apt-get download {package}: package lists missing, running apt-get update once")
        updated[0] = True
        upd = _apt(["update"], cwd)
        if upd.returncode != 0:
            raise KernelFetchError(f"apt-get update failed: {upd.stderr.strip().splitlines()[-1:]}",
                                   op="fetch guest kernel")
        result = _apt(["download", package], cwd)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        raise KernelFetchError(f"apt-get download {package} failed: {last.lower()}", op="fetch guest kernel")
    debs = sorted(cwd.glob(f"{package}_*.deb"))
    if not debs:
        raise KernelFetchError(f"apt-get download {package} left no .deb", op="fetch guest kernel", path=cwd)
    return debs[-1]


def _real_package(meta_deb: Path) -> str:
    """The versioned ``linux-image-<release>`` a metapackage depends on."""
    out = subprocess.run(["dpkg-deb", "-f", str(meta_deb), "Depends"], capture_output=True, text=True)
    for dep in out.stdout.split(","):
        name = dep.strip().split(" ")[0]
        if name.startswith("linux-image-") and name[len("linux-image-"):][:1].isdigit():
            return name
    raise KernelFetchError(f"no linux-image-<version> dependency in {out.stdout.strip()!r}",
                           op="fetch guest kernel", path=meta_deb)


def fetch_kernel(flavour: str = DEFAULT_FLAVOUR, build_dir: Path | None = None, log=print) -> GuestKernel:
    """Download and unpack a guest kernel into the cache, unless it is already there.

    Idempotent and atomic: work happens in a temporary directory that is renamed into
    place when complete, and removed whatever happens.
    """
    if flavour not in FLAVOURS:
        raise UsageError(f"unknown kernel flavour {flavour!r} (choose from {', '.join(FLAVOURS)})",
                         op="fetch guest kernel")
    found = cached_kernel(flavour, build_dir)
    if found is not None:
        return found
    base = guest_dir(build_dir)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".fetch-{flavour}-", dir=base))
    try:
        os.chmod(work, 0o755)  # lets apt's _apt user write there (else apt warns "unsandboxed")
        updated = [False]
        meta = _download(FLAVOURS[flavour], work, log, updated)
        package = _real_package(meta)
        log(f"fetching {package} (the {flavour} kernel)")
        deb = _download(package, work, log, updated)
        tree = work / "tree"
        done = subprocess.run(["dpkg", "-x", str(deb), str(tree)], capture_output=True, text=True)
        if done.returncode != 0:
            raise KernelFetchError(f"dpkg -x failed: {done.stderr.strip().lower()}", op="unpack guest kernel",
                                   path=deb)
        return _install(tree, base / flavour, flavour, package, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install(tree: Path, dest: Path, flavour: str, package: str, work: Path) -> GuestKernel:
    images = sorted((tree / "boot").glob("vmlinuz-*"))
    if not images:
        raise KernelFetchError("package holds no boot/vmlinuz-*", op="unpack guest kernel", path=tree)
    release = images[0].name[len("vmlinuz-"):]
    staged = work / "staged"
    (staged / "boot").mkdir(parents=True)
    for name in (f"vmlinuz-{release}", f"config-{release}", f"System.map-{release}"):
        if (tree / "boot" / name).exists():
            shutil.move(tree / "boot" / name, staged / "boot" / name)
    src_mod = tree / "lib" / "modules" / release
    dst_mod = staged / "lib" / "modules" / release
    dst_mod.mkdir(parents=True)
    for f in src_mod.glob("modules.*"):
        shutil.move(f, dst_mod / f.name)
    for keep in KEEP_MODULES:
        if (src_mod / "kernel" / keep).exists():
            (dst_mod / "kernel" / keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src_mod / "kernel" / keep, dst_mod / "kernel" / keep)
    manifest = {"flavour": flavour, "package": package, "release": release,
                "vmlinuz": f"boot/vmlinuz-{release}", "modules": f"lib/modules/{release}"}
    (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if dest.exists():  # an incomplete earlier attempt (no manifest): replace it
        shutil.rmtree(dest)
    os.rename(staged, dest)
    return _from_manifest(dest)

"""Run a command inside a freshly booted guest and get its output back.

This is what makes a VM useful to the rest of the course: a test that needs a kernel
configured differently from the host's (for example cgroup v2 only, with
``cgroup_no_v1=all`` on the guest's command line) boots one, runs a command in it and
reads the result. Files reach the guest in two ways:

* packed into the initramfs (``files=``), for small things;
* a host folder shared over **virtio-9p** (``share=``): QEMU serves the folder with the
  9P2000.L protocol over a virtio device, and the guest mounts it with
  ``mount -t 9p -o trans=virtio`` (see https://docs.kernel.org/filesystems/9p.html and
  QEMU's ``-fsdev``/``virtio-9p-pci``). Shares are read-only by default.

With ``host_root=True`` the host's whole ``/`` is shared read-only at ``/host`` and the
command runs ``chroot``-ed there, with the guest's own ``/proc``, ``/sys``, ``/dev`` and a
tmpfs ``/tmp`` mounted on top: the guest kernel then runs the host's programs, so
``<checkout>/.venv/bin/python -m pytest ...`` works inside the guest unchanged.

The cloud kernel has no 9p support, so a run with shares boots the ``generic`` kernel
(see :mod:`vmcompare.guestkernel`) and loads its 9p and virtio modules first.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from minicontainer.paths import project_build_dir

from . import initramfs
from .errors import BootTimeout, GuestError, UsageError
from .guestkernel import DEFAULT_FLAVOUR, SHARE_FLAVOUR, find_kernel
from .kmod import ModuleIndex
from .phases import BootPhases

SHARE_MODULES = ("9p", "9pnet_virtio", "virtio_pci")
HOST_ROOT_MOUNT = "/host"


@dataclass
class GuestResult:
    """What came back from the guest."""

    exit_code: int
    output: str
    accel: str
    machine: str
    kernel: str
    seconds: float                  # host wall time, QEMU exec to exit
    phases: BootPhases
    log: str = field(repr=False, default="")
    hung_attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


SCRATCH_DIRS = ("/tmp", "/run")
CHECKOUT = Path(__file__).resolve().parents[1]   # the folder holding vmcompare/ (and .venv/)   # what the guest covers with its own tmpfs inside a shared root


def _shares(share, host_root: bool) -> list[initramfs.Share]:
    out = []
    items = [tuple(s) for s in share]
    if host_root:
        items.insert(0, ("/", HOST_ROOT_MOUNT))
    for i, item in enumerate(items):
        if len(item) not in (2, 3):
            raise UsageError(f"a share is (host_dir, guest_dir[, readonly]), not {item!r}", op="run in guest")
        host = Path(item[0]).absolute()
        if not host.is_dir():
            raise UsageError("shared host folder does not exist", op="run in guest", path=host)
        out.append(initramfs.Share(host_path=host, guest_path=str(item[1]), tag=f"share{i}",
                                   readonly=bool(item[2]) if len(item) == 3 else True))
    return out


def _files(files) -> dict[str, bytes]:
    out = {}
    for guest_path, content in (files or {}).items():
        if isinstance(content, (str, os.PathLike)) and not isinstance(content, str):
            content = Path(content).read_bytes()
        out[guest_path] = content.encode() if isinstance(content, str) else bytes(content)
    return out


def run_in_guest(command: str | list[str], *, share=(), host_root: bool = False, chroot: str | None = None,
                 kernel_args=(), files=None, modules=(), env=None, workdir: str | None = None,
                 cgroup2: bool = False, timeout: float = 120.0, memory_mib: int = 512, cpus: int = 1,
                 machine: str = "pc", accel: str = "auto", kernel=None, flavour: str | None = None,
                 build_dir: Path | None = None, check: bool = False) -> GuestResult:
    """Boot a guest, run ``command`` with ``/bin/sh`` there, return its exit code and output.

    ``share=[(host_dir, guest_dir), ...]`` mounts host folders (read-only unless a third item
    is False); ``host_root=True`` shares ``/`` and runs the command chroot-ed into it
    (``chroot=`` picks another guest directory); ``cgroup2=True`` mounts cgroup2 on
    ``/sys/fs/cgroup`` first. Raises :class:`BootTimeout` when the guest hangs or runs out of
    time, :class:`GuestError` when it reports no result (or, with ``check``, a non-zero exit).
    """
    from .qemu import VMConfig, boot, resolve_accel
    workload = shlex.join(command) if isinstance(command, (list, tuple)) else str(command)
    if host_root:
        # the guest mounts fresh tmpfs over /tmp and /run of the shared root: a working folder
        # in there, or this checkout itself (its .venv runs in the guest) when it was cloned
        # under /tmp, is shared again on top, so it stays visible
        hidden = [f for f in dict.fromkeys(filter(None, (workdir, str(CHECKOUT))))
                  if any(f == d or f.startswith(d + "/") for d in SCRATCH_DIRS)]
        for folder in hidden:
            if not any(folder != other and folder.startswith(other + "/") for other in hidden):
                share = [*share, (folder, HOST_ROOT_MOUNT + folder)]     # one inside another: once
    shares = _shares(share, host_root)
    if host_root and chroot is None:
        chroot = HOST_ROOT_MOUNT
    build_dir = build_dir or project_build_dir()
    wanted = list(modules) + (list(SHARE_MODULES) if shares else [])
    guest = find_kernel(kernel, flavour or (SHARE_FLAVOUR if wanted else DEFAULT_FLAVOUR), build_dir)
    module_files = []
    if wanted:
        if guest.modules_dir is None:
            raise UsageError("this kernel has no modules directory, so 9p/modules cannot be loaded",
                             op="run in guest", path=guest.vmlinuz)
        module_files = ModuleIndex(guest.modules_dir).load_order(wanted)
    spec = initramfs.InitSpec(workload=workload, shares=shares, modules=module_files, files=_files(files),
                              chroot=chroot, cgroup2=cgroup2, env=dict(env or {}), workdir=workdir)
    initrd = initramfs.build_cached(spec, build_dir / "guest" / "initramfs")
    chosen, _why = resolve_accel(accel, build_dir=build_dir)
    cfg = VMConfig(kernel=guest.vmlinuz, initrd=initrd, machine=machine, accel=chosen, memory_mib=memory_mib,
                   cpus=cpus, kernel_args=tuple(kernel_args), shares=tuple(shares))
    outcome = boot(cfg, timeout=timeout, silence=20.0, retries=1, sample_at_init=False)
    if outcome.record is None:
        last = outcome.failures[-1]
        tail = "\n".join(last.log.splitlines()[-20:])
        raise BootTimeout(f"guest {last.status} after {len(outcome.failures)} attempt(s)", kind=last.status,
                          seconds=timeout, log=tail)
    rec = outcome.record
    phases = rec.phases()
    if phases.result_exit is None:
        tail = "\n".join(rec.log.splitlines()[-15:])
        problems = "; ".join(phases.errors) or "no result line"
        raise GuestError(f"guest reported no result ({problems}); console tail:\n{tail}", op="run in guest")
    result = GuestResult(exit_code=phases.result_exit, output=phases.result_output.decode(errors="replace"),
                         accel=chosen, machine=machine, kernel=guest.label, seconds=rec.t_exit - rec.t_exec,
                         phases=phases, log=rec.log, hung_attempts=len(outcome.failures))
    if check and result.exit_code != 0:
        raise GuestError(f"guest command exited with {result.exit_code}: {result.output[-500:]}", op="run in guest")
    return result

"""The QEMU runner: the only code in this project that starts a virtual machine.

QEMU emulates a whole PC (or a trimmed one); with an *accelerator* the guest's code runs
directly on the host CPU: ``kvm`` uses the kernel's hardware virtualisation (Intel VT-x
/ AMD-V, ``/dev/kvm``), while ``tcg`` (the Tiny Code Generator) translates every guest
instruction in software: it works everywhere and is many times slower. See qemu(1) and
https://www.qemu.org/docs/master/system/introduction.html.

``/dev/kvm`` existing does not prove KVM works. Inside a cloud VM without nested
virtualisation the device can be there while a KVM guest spins forever in ``KVM_RUN``.
So :func:`probe_kvm` *tries*: one short boot under a deadline, whose verdict (and its
reason) is cached until the host reboots.

The design follows QEMU's own ``python/qemu/machine/machine.py``:

* :func:`build_argv` is pure (no QEMU needed), so tests check every option;
* :class:`QemuMachine` is a context manager whose ``__exit__`` always kills QEMU. It
  starts QEMU in a new session (``setsid``), so killing the process *group* leaves no
  orphan even if QEMU forked helpers; it also runs on KeyboardInterrupt, and an
  ``atexit`` hook kills any machine still alive when Python exits;
* the serial console (``-serial stdio``) is read line by line, each line stamped with
  the host's monotonic clock; a boot that is silent too long is a *hang*, one that
  exceeds its deadline a *timeout*: both raise :class:`BootTimeout` after the kill.
"""

from __future__ import annotations

import atexit
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import BootTimeout, UsageError, VMLaunchError
from .initramfs import MARK, Share
from .phases import SerialLine

QEMU_BINARY = "qemu-system-x86_64"
MACHINES = ("pc", "q35", "microvm")
ACCELS = ("auto", "kvm", "tcg")
BASE_CMDLINE = ("console=ttyS0", "panic=-1", "printk.time=1")
INIT_MARKER = f"{MARK} phase init"

_live: dict[int, subprocess.Popen] = {}   # pid -> QEMU process still running


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # the pid is the group id: start_new_session=True
        except ProcessLookupError:
            pass
    proc.wait()
    _live.pop(proc.pid, None)


@atexit.register
def _kill_all_live() -> None:
    for proc in list(_live.values()):
        _kill_group(proc)


@dataclass(frozen=True)
class VMConfig:
    """Everything that decides the QEMU command line."""

    kernel: Path
    initrd: Path
    machine: str = "pc"
    accel: str = "tcg"               # already resolved: "kvm" or "tcg"
    memory_mib: int = 256
    cpus: int = 1
    kernel_args: tuple[str, ...] = ()
    shares: tuple[Share, ...] = ()
    qemu: str = QEMU_BINARY
    extra: tuple[str, ...] = ()

    @property
    def cmdline(self) -> str:
        return " ".join(BASE_CMDLINE + tuple(self.kernel_args))


def build_argv(cfg: VMConfig) -> list[str]:
    """The QEMU argv for a config; pure, so it can be tested without QEMU."""
    if cfg.machine not in MACHINES:
        raise UsageError(f"unknown machine {cfg.machine!r} (choose from {', '.join(MACHINES)})", op="build argv")
    if cfg.accel not in ("kvm", "tcg"):
        raise UsageError(f"accelerator must be resolved to kvm or tcg, not {cfg.accel!r}", op="build argv")
    if cfg.memory_mib < 32 or cfg.cpus < 1:
        raise UsageError("memory must be at least 32 MiB and cpus at least 1", op="build argv")
    if cfg.shares and cfg.machine == "microvm":
        raise UsageError("shared folders need machine pc or q35 (virtio-9p over pci)", op="build argv")
    # The default CPU model (qemu64) for both accelerators: `-cpu host` is faster on a real KVM
    # host, but inside a nested cloud VM it can abort ("failed to set MSR 0x10a").
    argv = [cfg.qemu, "-machine", f"{cfg.machine},accel={cfg.accel}"]
    argv += ["-m", str(cfg.memory_mib), "-smp", str(cfg.cpus),
             "-nodefaults", "-no-user-config", "-display", "none",
             "-serial", "stdio",          # ttyS0 <-> our stdout pipe
             "-no-reboot",                # a guest reboot or panic ends QEMU instead of looping
             "-kernel", str(cfg.kernel), "-initrd", str(cfg.initrd), "-append", cfg.cmdline]
    for i, share in enumerate(cfg.shares):
        ro = ",readonly=on" if share.readonly else ""
        argv += ["-fsdev", f"local,id=fs{i},path={share.host_path},security_model=none,multidevs=remap{ro}",
                 "-device", f"virtio-9p-pci,fsdev=fs{i},mount_tag={share.tag}"]
    return argv + list(cfg.extra)


@dataclass
class BootRecord:
    """What one QEMU run produced, with host monotonic timestamps."""

    argv: list[str]
    t_exec: float = 0.0
    t_first_byte: float | None = None
    t_init: float | None = None
    t_exit: float | None = None
    exit_code: int | None = None
    lines: list[SerialLine] = field(default_factory=list)
    stderr: str = ""
    status: str = "running"          # ok | hang | timeout | launch-failed
    rss_bytes: int | None = None     # QEMU's memory when the init marker arrived
    uss_bytes: int | None = None

    @property
    def log(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def phases(self):
        from .phases import parse_boot
        return parse_boot(self.lines, self.t_exec, self.t_first_byte, self.t_exit)


def sample_memory(pid: int) -> tuple[int | None, int | None]:
    """RSS and USS of a process (psutil, imported here only)."""
    import psutil
    try:
        info = psutil.Process(pid).memory_full_info()
        return info.rss or None, info.uss or None     # 0: the process already exited
    except (psutil.Error, OSError):
        return None, None


class QemuMachine:
    """One QEMU process: ``with QemuMachine(argv) as vm: record = vm.wait()``."""

    def __init__(self, argv: list[str], *, sample_at_init: bool = True) -> None:
        self.argv = list(argv)
        self.sample_at_init = sample_at_init
        self.proc: subprocess.Popen | None = None
        self.record = BootRecord(argv=self.argv)

    def __enter__(self) -> "QemuMachine":
        self.launch()
        return self

    def __exit__(self, *exc) -> bool:
        self.kill()
        return False

    def launch(self) -> None:
        self.record.t_exec = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as err:
            self.record.status = "launch-failed"
            raise VMLaunchError(f"cannot execute qemu ({err.strerror.lower()})", exitcode=None,
                                command=self.argv, output="", path=self.argv[0]) from err
        _live[self.proc.pid] = self.proc

    def kill(self) -> None:
        if self.proc is None:
            return
        _kill_group(self.proc)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe and not pipe.closed:
                pipe.close()

    def wait(self, timeout: float = 60.0, silence: float | None = 10.0,
             on_line: Callable[[SerialLine], None] | None = None) -> BootRecord:
        """Read the console until QEMU exits. ``silence`` (seconds without a byte before the init
        marker) means a hang; ``timeout`` (from exec) is the hard deadline. Both kill and raise."""
        rec, proc = self.record, self.proc
        if proc is None:
            raise UsageError("wait() before launch()", op="wait for guest")
        sel = selectors.DefaultSelector()
        partial = {proc.stdout.fileno(): b"", proc.stderr.fileno(): b""}
        for pipe in (proc.stdout, proc.stderr):
            os.set_blocking(pipe.fileno(), False)
            sel.register(pipe.fileno(), selectors.EVENT_READ)
        last_byte = rec.t_exec
        deadline = rec.t_exec + timeout
        stderr_chunks: list[bytes] = []
        try:
            while partial:
                now = time.monotonic()
                if now >= deadline:
                    self._fail("timeout", f"no power-off within {timeout:g} s", timeout, stderr_chunks)
                if silence is not None and rec.t_init is None and now - last_byte >= silence:
                    self._fail("hang", f"console silent for {silence:g} s before /init", silence, stderr_chunks)
                wait_for = deadline - now if silence is None or rec.t_init else min(deadline, last_byte + silence) - now
                for key, _ in sel.select(max(wait_for, 0.0)):
                    fd = key.fd
                    chunk = os.read(fd, 65536)
                    t = time.monotonic()
                    if not chunk:
                        sel.unregister(fd)
                        rest = partial.pop(fd)
                        if rest and fd == proc.stdout.fileno():   # a last line without a newline
                            self._line(SerialLine(t, rest.decode(errors="replace").rstrip("\r")), on_line)
                        continue
                    if fd == proc.stderr.fileno():
                        stderr_chunks.append(chunk)
                        continue
                    last_byte = t
                    if rec.t_first_byte is None:
                        rec.t_first_byte = t
                    data = partial[fd] + chunk
                    *complete, partial[fd] = data.split(b"\n")
                    for raw in complete:
                        self._line(SerialLine(t, raw.decode(errors="replace").rstrip("\r")), on_line)
            rec.exit_code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            rec.t_exit = time.monotonic()
        except subprocess.TimeoutExpired:
            self._fail("timeout", f"qemu did not exit within {timeout:g} s", timeout, stderr_chunks)
        finally:
            sel.close()
        rec.stderr = b"".join(stderr_chunks).decode(errors="replace")
        _live.pop(proc.pid, None)
        if rec.t_first_byte is None and rec.exit_code != 0:
            rec.status = "launch-failed"
            first = (rec.stderr.strip().splitlines() or ["no output"])[0]
            raise VMLaunchError(f"qemu exited with {rec.exit_code}: {first}", exitcode=rec.exit_code,
                                command=self.argv, output=rec.stderr)
        rec.status = "ok"
        return rec

    def _line(self, line: SerialLine, on_line) -> None:
        self.record.lines.append(line)
        if self.record.t_init is None and INIT_MARKER in line.text:
            self.record.t_init = line.t
            if self.sample_at_init:
                self.record.rss_bytes, self.record.uss_bytes = sample_memory(self.proc.pid)
        if on_line is not None:
            on_line(line)

    def _fail(self, kind: str, message: str, seconds: float, stderr_chunks) -> None:
        self.kill()
        self.record.status = kind
        self.record.t_exit = time.monotonic()
        self.record.stderr = b"".join(stderr_chunks).decode(errors="replace")
        raise BootTimeout(message, kind=kind, seconds=seconds, log=self.record.log)


@dataclass
class BootOutcome:
    """A successful record (or None) and every failed attempt before it."""

    record: BootRecord | None
    failures: list[BootRecord] = field(default_factory=list)


def boot(cfg: VMConfig, *, timeout: float = 60.0, silence: float | None = 10.0, retries: int = 1,
         on_line: Callable[[SerialLine], None] | None = None, sample_at_init: bool = True) -> BootOutcome:
    """Boot until QEMU exits. A hung boot is killed, kept as a failure and retried ``retries`` times;
    a timeout after /init started (the workload is slow) is not retried."""
    argv = build_argv(cfg)
    outcome = BootOutcome(record=None)
    for _attempt in range(retries + 1):
        machine = QemuMachine(argv, sample_at_init=sample_at_init)
        with machine:
            try:
                outcome.record = machine.wait(timeout=timeout, silence=silence, on_line=on_line)
                return outcome
            except BootTimeout as err:
                outcome.failures.append(machine.record)
                if err.kind != "hang":
                    return outcome
    return outcome


def qemu_version(binary: str = QEMU_BINARY) -> str | None:
    """``7.2.22`` from ``qemu-system-x86_64 -version``, or None when QEMU is missing."""
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.split()
    return words[words.index("version") + 1] if "version" in words else None


def time_raw_boot(argv: list[str], marker: str = INIT_MARKER, timeout: float = 60.0) -> tuple[float | None, float]:
    """The same QEMU argv started from a plain shell (``sh -c 'exec "$@"'``), read with nothing but
    ``readline``: seconds to the marker line and to exit, for bench/boot_overhead.py."""
    import threading
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/bin/sh", "-c", 'exec "$@"', "sh", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    _live[proc.pid] = proc
    timer = threading.Timer(timeout, _kill_group, (proc,))
    timer.start()
    t_marker = None
    needle = marker.encode()
    try:
        for line in proc.stdout:
            if t_marker is None and needle in line:
                t_marker = time.perf_counter() - t0
        proc.wait()
        return t_marker, time.perf_counter() - t0
    finally:
        timer.cancel()
        _kill_group(proc)
        proc.stdout.close()


# probe_kvm lives in vmcompare.accel (it needs boot() above); it is re-exported here because
# callers such as `minicontainer doctor` import it from the runner.
from .accel import KvmVerdict, probe_kvm, resolve_accel  # noqa: E402,F401

"""Shared helpers for the benchmarks in bench/: paired timing, robust statistics, and a
busybox OCI bundle that runc and crun can run.

How to compare two programs on a shared, noisy machine
------------------------------------------------------
A single wall-clock time means little here: another tenant, a page-cache miss or a
timer tick moves it by milliseconds. Three habits make a comparison trustworthy:

* **Pair and alternate.** Every *round* runs each contender once, back to back, so a
  slow minute slows all of them. The order rotates from round to round and is reversed
  every other cycle (ABCD, BCDA, ... then DCBA, CBAD, ...): no contender always runs
  first after an idle pause, and none always runs right after the same neighbour.
* **Warm up.** The first runs pay for cold caches (the Python bytecode, the busybox
  pages, the dentry cache of the bundle); a few rounds are run and thrown away.
* **Use the median** (and the quartiles for spread), not the mean: one 300 ms hiccup
  moves the mean of 30 samples by 10 ms but does not move the median at all.

The ratio of two medians is the headline; the median of the per-round ratios is printed
beside it as a check (when the two disagree the machine was too noisy to trust).

Running runc and crun
---------------------
An OCI *bundle* is a directory with a ``config.json`` (the OCI runtime spec,
https://github.com/opencontainers/runtime-spec/blob/main/config.md) naming a root
filesystem and the process to start. ``runc spec`` writes a starter config; we edit it
in Python. Both runtimes' ``run`` command creates, starts, waits for and deletes the
container, so nothing stays behind when the command exits. See runc(8), crun(1).

Why a wrapper around every command
----------------------------------
This host's cgroups are *hybrid* (cgroups(7)): v1 controllers plus a cgroup2 mount at
``/sys/fs/cgroup/unified`` with no controllers. crun refuses that layout. Inside a
private mount namespace (``unshare -m``, see mount_namespaces(7)) the cgroup2 mount can
be unmounted (umount(2)) without the host noticing, and crun then sees plain v1. The
wrapper costs a few milliseconds, so *every* contender runs behind the same one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from minicontainer import paths
from minicontainer.errors import MiniContainerError


class BenchError(MiniContainerError):
    """A benchmark could not be set up, a contender failed, or it left something behind."""


# --- statistics ---------------------------------------------------------------------------

def quantile(values: Iterable[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) with linear interpolation between closest ranks
    (numpy's default, "type 7"): quantile(xs, 0.5) is the median."""
    xs = sorted(values)
    if not xs:
        raise BenchError("no samples", op="quantile")
    if not 0.0 <= q <= 1.0:
        raise BenchError(f"quantile {q} is outside 0..1", op="quantile")
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float:
    return quantile(values, 0.5)


@dataclass(frozen=True)
class Summary:
    """Median and quartiles of one contender's wall times, in seconds."""

    name: str
    n: int
    median: float
    p25: float
    p75: float
    minimum: float

    @classmethod
    def of(cls, name: str, samples: Sequence[float]) -> "Summary":
        return cls(name, len(samples), median(samples), quantile(samples, 0.25),
                   quantile(samples, 0.75), min(samples) if samples else 0.0)


def ratio(a: float, b: float) -> float:
    if b <= 0:
        raise BenchError(f"cannot divide by a non-positive time {b!r}", op="ratio")
    return a / b


def paired_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a[i] / b[i] for each round i (the two lists come from the same rounds)."""
    if len(a) != len(b):
        raise BenchError(f"unpaired samples: {len(a)} vs {len(b)}", op="paired ratios")
    return [ratio(x, y) for x, y in zip(a, b)]


# --- formatting and parsing the report lines -----------------------------------------------

RATIO_RE = re.compile(r"^(?P<a>[\w.-]+)/(?P<b>[\w.-]+) = (?P<ratio>\d+(?:\.\d+)?)x$")


def ratio_line(a_name: str, b_name: str, value: float) -> str:
    """The one line per pair the course quotes: ``minicontainer/runc = 0.85x``."""
    return f"{a_name}/{b_name} = {value:.2f}x"


def parse_ratio_lines(text: str) -> dict[tuple[str, str], float]:
    """Every ``A/B = R x`` line in a report, as {(A, B): R}."""
    found = {}
    for line in text.splitlines():
        m = RATIO_RE.match(line.strip())
        if m:
            found[(m["a"], m["b"])] = float(m["ratio"])
    return found


def format_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- running and timing commands -----------------------------------------------------------

def time_command(argv: Sequence[str], timeout: float = 60.0) -> float:
    """Run ``argv`` once and return its wall time in seconds.

    The clock (time.perf_counter, monotonic) brackets exactly what subprocess.run does:
    spawn, wait, collect stderr. We spell it out with Popen only so that a command that
    hangs can be killed with its whole process group (it runs in a new session), which
    subprocess.run cannot do. A non-zero exit status is an error, not a fast sample.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise BenchError(f"timed out after {timeout:g} s", op="run", path=argv[0]) from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no error output"]
        raise BenchError(f"exit status {proc.returncode}: {tail[0].lower()}", op="run",
                         path=shlex.join(argv))
    return elapsed


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def round_order(names: Sequence[str], i: int) -> list[str]:
    """The order of contenders in round ``i``: rotated each round, reversed every other cycle."""
    n = len(names)
    base = list(names) if (i // n) % 2 == 0 else list(reversed(names))
    k = i % n
    return base[k:] + base[:k]


Timer = Callable[[Sequence[str]], float]


def paired_runs(commands: dict[str, Callable[[int], list[str]]], rounds: int, warmup: int = 0,
                timer: Timer = time_command) -> dict[str, list[float]]:
    """Run every contender once per round for ``warmup + rounds`` rounds; return the kept times.

    ``commands[name](i)`` builds the argv for round ``i`` (runc and crun need a fresh
    container ID per run); it is built before the clock starts.
    """
    if rounds < 1:
        raise BenchError(f"rounds must be at least 1, not {rounds}", op="paired runs")
    if warmup < 0:
        raise BenchError(f"warm-up rounds cannot be negative ({warmup})", op="paired runs")
    if not commands:
        raise BenchError("no contenders", op="paired runs")
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + rounds):
        for name in round_order(names, i):
            argv = commands[name](i)
            elapsed = timer(argv)
            if i >= warmup:
                times[name].append(elapsed)
    return times


# --- the machine ------------------------------------------------------------------------------

def machine_info(proc_root: Path = paths.PROC_ROOT) -> dict[str, str]:
    """CPU model, usable cores and kernel release, read from ``<proc_root>``."""
    cpu = "unknown cpu"
    try:
        for line in (Path(proc_root) / "cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                cpu = value.strip()
                break
    except OSError:
        pass
    try:
        release = (Path(proc_root) / "sys" / "kernel" / "osrelease").read_text().strip()
    except OSError:
        release = os.uname().release
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": str(cores), "kernel": f"Linux {release}"}


def mount_points(proc_root: Path = paths.PROC_ROOT) -> list[str]:
    """Mount points of this process's mount namespace, from ``<proc_root>/self/mountinfo``
    (field 5; the kernel escapes space, tab, newline and backslash as octal, proc(5))."""
    text = (Path(proc_root) / "self" / "mountinfo").read_text()
    unescape = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), s)  # noqa: E731
    return [unescape(line.split()[4]) for line in text.splitlines() if len(line.split()) > 4]


def mounts_under(directory: Path, proc_root: Path = paths.PROC_ROOT) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    return [m for m in mount_points(proc_root) if m == prefix[:-1] or m.startswith(prefix)]


# --- the wrapper every contender runs behind -------------------------------------------------

@dataclass(frozen=True)
class Wrapper:
    """``unshare -m sh -c '<script>' sh CMD...``: a private mount namespace, then CMD."""

    prefix: tuple[str, ...]
    note: str

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return [*self.prefix, *argv]


def cgroup_wrapper(unshare: str = "unshare", sh: str = "/bin/sh",
                   cgroup_root: Path = paths.CGROUP_ROOT, proc_root: Path = paths.PROC_ROOT) -> Wrapper:
    """The wrapper for this host. With a hybrid layout the script unmounts the cgroup2
    mount first (crun refuses hybrid cgroups); otherwise it only enters the private mount
    namespace, so the comparison costs the same either way."""
    unified = Path(cgroup_root) / "unified"
    if str(unified) in mount_points(proc_root):
        script = f'umount {shlex.quote(str(unified))} && exec "$@"'
        note = (f"every contender runs as `unshare -m sh -c 'umount {unified} && exec CMD'`: a private "
                f"mount namespace without the cgroup2 mount, because crun refuses this host's hybrid "
                f"cgroups; the wrapper's cost is the same for all")
    else:
        script = 'exec "$@"'
        note = (f"every contender runs as `unshare -m sh -c 'exec CMD'` (no cgroup2 mount at {unified} "
                f"to hide on this host; the private mount namespace is kept so the cost matches)")
    return Wrapper((unshare, "-m", sh, "-c", script, "sh"), note)


# --- a busybox bundle for runc and crun ------------------------------------------------------

BUNDLE_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")


def busybox_rootfs(state_root: Path) -> Path:
    """The unpacked layer of the project's own busybox image (created in ``state_root``)."""
    from minicontainer.images.store import ImageStore   # lazily: only the bench set-up needs it

    image = ImageStore(state_root).ensure_busybox()
    if len(image.layer_dirs) != 1:
        raise BenchError(f"expected a one-layer busybox image, got {len(image.layer_dirs)} layers",
                         op="busybox rootfs", path=state_root)
    return image.layer_dirs[0]


def edit_spec(spec: dict, rootfs: Path, args: Sequence[str], hostname: str = "bench") -> dict:
    """Turn ``runc spec``'s starter config into the benchmark's: ``args`` without a
    terminal, the given read-only root, and exactly the namespaces minicontainer uses
    (no user namespace, so no uid mappings)."""
    out = json.loads(json.dumps(spec))          # a deep copy; the input stays untouched
    process = out.setdefault("process", {})
    process["args"] = list(args)
    process["terminal"] = False
    out["root"] = {"path": str(rootfs), "readonly": True}
    out["hostname"] = hostname
    linux = out.setdefault("linux", {})
    linux["namespaces"] = [{"type": t} for t in BUNDLE_NAMESPACES]
    for key in ("uidMappings", "gidMappings"):
        linux.pop(key, None)
    return out


def make_bundle(bundle: Path, rootfs: Path, runc: str = "runc", args: Sequence[str] = ("/bin/true",)) -> Path:
    """Write ``<bundle>/config.json`` for ``rootfs``: ``runc spec``, then :func:`edit_spec`."""
    bundle = Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    config = bundle / "config.json"
    try:
        config.unlink(missing_ok=True)          # runc spec refuses to overwrite
        subprocess.run([runc, "spec", "--bundle", str(bundle)], check=True, capture_output=True, timeout=30)
        spec = json.loads(config.read_text())
    except subprocess.CalledProcessError as err:
        msg = err.stderr.decode(errors="replace").strip().lower() or f"exit status {err.returncode}"
        raise BenchError(msg, op="runc spec", path=bundle) from err
    except (OSError, ValueError, subprocess.TimeoutExpired) as err:
        raise BenchError(str(err).lower(), op="runc spec", path=bundle) from err
    tmp = bundle / "config.json.tmp"
    try:
        tmp.write_text(json.dumps(edit_spec(spec, rootfs, args), indent=2) + "\n")
        os.replace(tmp, config)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"cannot write the edited config: {err.strerror or err}".lower(),
                         op="write config", path=config) from err
    return config


def tool_version(argv: Sequence[str]) -> str:
    """The first line of ``<tool> --version`` (for the report), or why there is none."""
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


# --- python -X importtime -------------------------------------------------------------------

@dataclass(frozen=True)
class ImportTime:
    """One line of ``python -X importtime``: microseconds in the module itself and with
    everything it imported; ``depth`` 0 means imported by the program, not by a module."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


_IMPORT_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def parse_importtime(stderr: str) -> list[ImportTime]:
    """The import records in a stderr stream (other lines, such as the program's own
    output, are skipped). Nesting is shown by two spaces per level after the bar."""
    found = []
    for line in stderr.splitlines():
        m = _IMPORT_RE.match(line)
        if m:
            found.append(ImportTime(m[4], int(m[1]), int(m[2]), (len(m[3]) - 1) // 2))
    return found


def top_level_package(module: str) -> str:
    return module.split(".", 1)[0]


def forbidden_imports(records: Iterable[ImportTime], forbidden: Iterable[str]) -> list[str]:
    """Modules whose top-level package is forbidden; an entry ending in ``*`` is a prefix
    (``jupyter*`` matches jupyter_core and jupyterlab)."""
    rules = list(forbidden)
    hits = []
    for rec in records:
        top = top_level_package(rec.module)
        if any(top.startswith(r[:-1]) if r.endswith("*") else top == r for r in rules):
            hits.append(rec.module)
    return sorted(set(hits))

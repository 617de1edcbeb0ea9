"""The same small benchmarks, as one busybox shell script, for the host, a container and a VM.

Felter et al. (IBM Research, 2015, "An updated performance comparison of virtual machines
and Linux containers") ran the same programs natively, in Docker and in KVM and reported
each as a fraction of native. We do the same with tiny, transparent workloads, all of them
applets of ONE binary, the host's static busybox (``busybox-static``), which is also the
container image's ``/bin/busybox`` and the VM initramfs's ``/bin/busybox``: same code, same
arguments, three environments.

=============  ============================================================  ==============
name           what runs (``$BB`` is busybox)                                  reported as
=============  ============================================================  ==============
``cpu``        ``dd if=/dev/zero bs=1M count=N | sha256sum``: hashing          MiB/s
``memory``     ``dd if=/dev/zero of=/dev/null bs=1M count=N``: the kernel      GiB/s
               zero-fills user memory (``clear_user``), a memory-bandwidth
               bound loop
``syscall``    ``dd ... bs=1 count=N``: one ``read(2)`` + one ``write(2)``     ns per syscall
               per byte, so ~2N cheap system calls
``process``    ``N`` times ``$BB true`` in a shell loop: ``fork(2)`` +          µs per process
               ``execve(2)`` + ``exit`` + ``wait``
``file-write`` ``dd of=FILE bs=1M count=N conv=fsync``: write and              MiB/s
               ``fsync(2)``: reaches the disk (a virtual disk in the VM)
``file-read``  ``dd if=FILE of=/dev/null``: read back (from the page cache)    MiB/s
``net-rtt``    ``ping -A -q -c N PEER``: ICMP echo round trip to a             µs round trip
               host-local address (loopback, the container's bridge
               gateway, QEMU's user-network gateway)
=============  ============================================================  ==============

**The clock.** Every environment times itself the same way: the shell reads
``/proc/uptime`` (seconds since boot, 10 ms resolution, see proc(5)) with its *builtin*
``read`` before and after each workload, so taking a timestamp forks nothing. Workloads
are sized to run for hundreds of milliseconds on the host, so the 10 ms step is a few
percent at most; a run shorter than 2 ticks is reported as too fast, never as a number.
(``date +%s%N`` would be finer, but busybox's ``date`` has no ``%N``, and ``adjtimex``
is refused by the container's seccomp filter.) ``ping`` measures each round trip itself
with ``clock_gettime``. Inside a TCG guest the clock is the emulated one, which QEMU keeps
in step with the host's real time.

This module is pure: it writes the script and parses what comes back; running it is
:mod:`vmcompare.overhead`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import UsageError

MARK = "@@wl"
TICK_S = 0.01              # /proc/uptime resolution
MIN_TICKS = 2              # fewer ticks than this: "too-fast", no value
GATEWAY = "@gateway"       # PEER value meaning "the default route's gateway, read inside"


@dataclass(frozen=True)
class Workload:
    """One benchmark: a shell fragment doing ``size`` units of work, and how to report it."""

    name: str
    title: str
    unit: str
    size: int
    body: str                       # shell, may use $BB $WLDIR $PEER and {n}
    work_per_size: float = 1.0      # units of the reported figure per unit of size (see value())
    higher_is_better: bool = True
    needs: str = ""                 # "disk" (a writable $WLDIR) or "net" (a $PEER)
    chunk: int = 1                  # file-read: the file's size; the body repeats size // chunk times

    def script(self) -> str:
        return self.body.format(n=self.size, reps=max(1, self.size // self.chunk))

    def value(self, seconds: float | None = None, rtt_us: float | None = None) -> float | None:
        """The reported figure from a run's elapsed seconds (or ping's average round trip)."""
        if self.name == "net-rtt":
            return rtt_us
        if seconds is None or seconds < MIN_TICKS * TICK_S - 1e-9:
            return None
        work = self.size * self.work_per_size
        return work / seconds if self.higher_is_better else seconds * self.work_per_size / self.size


_CATALOGUE = (
    Workload("cpu", "CPU: sha256 of zeros", "MiB/s", 48,
             '"$BB" dd if=/dev/zero bs=1048576 count={n} 2>/dev/null | "$BB" sha256sum >/dev/null'),
    Workload("memory", "memory: zero-fill 1 MiB blocks", "GiB/s", 16384,
             '"$BB" dd if=/dev/zero of=/dev/null bs=1048576 count={n} 2>/dev/null', work_per_size=1 / 1024),
    Workload("syscall", "syscalls: 1-byte read+write", "ns/syscall", 500_000,
             '"$BB" dd if=/dev/zero of=/dev/null bs=1 count={n} 2>/dev/null',
             work_per_size=1e9 / 2, higher_is_better=False),
    Workload("process", "process: fork+exec busybox true", "µs/process", 500,
             'i=0; while [ $i -lt {n} ]; do "$BB" true; i=$((i+1)); done',
             work_per_size=1e6, higher_is_better=False),
    Workload("file-write", "file: write + fsync", "MiB/s", 128,
             '"$BB" dd if=/dev/zero of="$WLDIR/wl.dat" bs=1048576 count={n} conv=fsync 2>/dev/null',
             needs="disk"),
    Workload("file-read", "file: read back x8 (page cache)", "MiB/s", 1024,
             'r=0; bad=0; while [ $r -lt {reps} ]; do "$BB" dd if="$WLDIR/wl.dat" of=/dev/null bs=1048576 '
             '2>/dev/null || bad=1; r=$((r+1)); done; [ $bad = 0 ]', needs="disk"),
    Workload("net-rtt", "network: ICMP echo round trip", "µs", 200,
             '"$BB" ping -A -q -c {n} -W 2 "$PEER" 2>&1', higher_is_better=False, needs="net"),
)
NAMES = tuple(w.name for w in _CATALOGUE)
_DEFAULT_SIZE = {w.name: w.size for w in _CATALOGUE}


def catalogue(names=None, scale: float = 1.0) -> list[Workload]:
    """The workloads (all, or ``names`` in catalogue order), sizes multiplied by ``scale``.
    file-read reads what file-write wrote, so asking for one brings both."""
    if scale <= 0:
        raise UsageError(f"scale must be positive, not {scale}", op="choose workloads")
    wanted = set(NAMES if names is None else names)
    unknown = wanted - set(NAMES)
    if unknown:
        raise UsageError(f"unknown workload {sorted(unknown)[0]!r} (choose from {', '.join(NAMES)})",
                         op="choose workloads")
    if wanted & {"file-write", "file-read"}:
        wanted |= {"file-write", "file-read"}
    out = []
    for w in _CATALOGUE:
        if w.name in wanted:
            size = max(1, round(w.size * scale))
            if w.name == "file-read":   # re-read the written file a whole number of times
                written = next(x.size for x in out if x.name == "file-write")
                out.append(replace(w, size=written * max(1, round(w.size / _DEFAULT_SIZE['file-write'])), chunk=written))
                continue
            out.append(replace(w, size=size))
    return out


def script(workloads: list[Workload], trials: int) -> str:
    """One busybox ``sh`` script running every workload ``trials`` times, interleaved (trial 1 of
    each, then trial 2 of each...), so a burst of noise does not hit one workload only.

    Environment: ``BB`` (busybox path, default ``busybox``), ``WLDIR`` (a writable directory on
    the disk under test), ``PEER`` (address to ping; ``@gateway`` = the default route's)."""
    if trials < 1:
        raise UsageError("trials must be at least 1", op="write workload script")
    lines = ['BB=${BB:-busybox}', 'WLDIR=${WLDIR:-/tmp}', 'PEER=${PEER:-}',
             f'if [ "$PEER" = "{GATEWAY}" ]; then',
             '  PEER=$("$BB" ip route | "$BB" awk \'$1 == "default" {print $3; exit}\')',
             'fi',
             f'echo "{MARK} env bb=$BB wldir=$WLDIR peer=$PEER"',
             'trial=1',
             f'while [ $trial -le {trials} ]; do']
    for w in workloads:
        if w.needs == "net":
            lines += ['  if [ -z "$PEER" ]; then',
                      f'    echo "{MARK} {w.name} $trial skipped reason=no-peer"',
                      '  else',
                      '    read t0 _ < /proc/uptime',
                      f'    out=$({w.script()}); rc=$?',
                      '    read t1 _ < /proc/uptime',
                      f'    echo "{MARK} {w.name} $trial $t0 $t1 rc=$rc" $out',
                      '  fi']
        else:
            lines += ['  read t0 _ < /proc/uptime',
                      f'  {w.script()}; rc=$?',
                      '  read t1 _ < /proc/uptime',
                      f'  echo "{MARK} {w.name} $trial $t0 $t1 rc=$rc"']
        if w.name == "file-read":
            lines.append('  "$BB" rm -f "$WLDIR/wl.dat"')
    lines += ['  trial=$((trial+1))', 'done', f'echo "{MARK} done"']
    return "\n".join(lines) + "\n"


@dataclass
class Sample:
    """One trial of one workload, as the script reported it."""

    workload: str
    trial: int
    status: str                     # ok | failed | too-fast | skipped
    seconds: float | None = None
    value: float | None = None
    detail: str = ""


_LINE = re.compile(rf"^{re.escape(MARK)} (?P<name>[a-z-]+) (?P<trial>\d+) (?P<rest>.*)$")
_TIMES = re.compile(r"^(?P<t0>\d+\.\d+) (?P<t1>\d+\.\d+) rc=(?P<rc>\d+)\s*(?P<tail>.*)$")
_RTT = re.compile(r"round-trip min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+) ms")
_RECEIVED = re.compile(r"(\d+) packets transmitted, (\d+) packets received")


def parse(text: str, workloads: list[Workload]) -> tuple[list[Sample], dict]:
    """Samples from the script's output, and the ``env`` line's fields (bb, wldir, peer).

    Raises :class:`UsageError` when the output is cut short (no ``done`` line): a run that
    did not finish is not a measurement."""
    by_name = {w.name: w for w in workloads}
    samples: list[Sample] = []
    env: dict = {}
    finished = False
    for raw in text.splitlines():
        line = raw.strip()
        if line == f"{MARK} done":
            finished = True
            continue
        if line.startswith(f"{MARK} env "):
            env = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
            continue
        m = _LINE.match(line)
        if not m or m["name"] not in by_name:
            continue
        w, trial, rest = by_name[m["name"]], int(m["trial"]), m["rest"]
        if rest.startswith("skipped"):
            samples.append(Sample(w.name, trial, "skipped", detail=rest.partition("reason=")[2] or "skipped"))
            continue
        t = _TIMES.match(rest)
        if t is None:
            samples.append(Sample(w.name, trial, "failed", detail=f"unparseable: {rest[:80]}"))
            continue
        seconds = round(float(t["t1"]) - float(t["t0"]), 6)
        if int(t["rc"]) != 0:
            samples.append(Sample(w.name, trial, "failed", seconds, detail=f"exit {t['rc']} {t['tail'][:120]}"))
            continue
        if w.name == "net-rtt":
            rtt, got = _RTT.search(t["tail"]), _RECEIVED.search(t["tail"])
            if rtt is None:
                samples.append(Sample(w.name, trial, "failed", seconds, detail=t["tail"][:120] or "no ping summary"))
                continue
            detail = f"{got[2]}/{got[1]} replies" if got else ""
            samples.append(Sample(w.name, trial, "ok", seconds, w.value(rtt_us=float(rtt[2]) * 1000), detail))
            continue
        value = w.value(seconds)
        samples.append(Sample(w.name, trial, "ok" if value is not None else "too-fast", seconds, value,
                              "" if value is not None else f"under {MIN_TICKS} clock ticks"))
    if not finished:
        raise UsageError("workload output ends before its 'done' line (the run was cut short)",
                         op="parse workload output")
    return samples, env

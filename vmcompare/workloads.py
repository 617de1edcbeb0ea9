"""The same small benchmarks, timed by one static binary, for the host, a container and a VM.

Felter et al. (IBM Research, 2015, "An updated performance comparison of virtual machines
and Linux containers") ran the same programs natively, in Docker and in KVM and reported
each as a fraction of native. We do the same with small, transparent workloads, all timed
by ONE static binary, ``mc-timer`` (:mod:`vmcompare.timer`, built by ``make``): the host
runs ``build/timer/mc-timer``, the container the same file bind-mounted read-only, the VM
the same bytes in its initramfs. The shell around it is the host's static busybox (also the
container image's and the initramfs's ``/bin/busybox``).

==============  ===========================================================  ===============
name            what runs (``$T`` is mc-timer, ``$BB`` busybox)               reported as
==============  ===========================================================  ===============
``cpu``         ``$T cpu N``: N million rounds of an integer mixing            M rounds/s
                function (splitmix64), in registers only
``memory``      ``$T memory N``: N passes of ``memset`` + a read of every      GiB/s
                cache line of a 64 MiB buffer (memory bandwidth)
``syscall``     ``$T syscall N``: N thousand ``getppid(2)`` calls, the         ns per syscall
                cheapest real system call (what seccomp filters each time)
``badread``     ``$T badread N``: N thousand ``read(-1, buf, 0)``, refused     ns per syscall
                with EBADF at once: a second cheap call, for the seccomp pair
``process``     ``$T exec sh -c``: N times ``$BB true`` in a shell loop:        µs per process
                ``fork(2)`` + ``execve(2)`` + ``exit`` + ``wait``
``file-write``  ``$T exec dd of=FILE bs=1M count=N conv=fsync``: to the disk    MiB/s
                (a virtual disk in the VM)
``file-read``   ``$T exec sh -c``: read FILE back R times (page cache)          MiB/s
``net-rtt``     ``$T exec ping -A -q -c N PEER``: ICMP echo to a host-local    µs round trip
                address (loopback, the bridge gateway, QEMU's gateway)
==============  ===========================================================  ===============

**The clock.** mc-timer reads ``clock_gettime(CLOCK_MONOTONIC)`` (nanoseconds) around
the work, and ``CLOCK_PROCESS_CPUTIME_ID``: the CPU time the process itself used, in user
and kernel mode (clock_gettime(2)). The ``cpu``, ``memory`` and ``syscall`` figures come from
the **CPU time**: on a shared machine a busy neighbour stretches the wall time of a run
(the process waits for a core) but not the CPU time it needs; anything a container adds
to a system call (its seccomp filter) runs in the process's own kernel time and is counted.
The others come from the wall time (they wait for children, the disk or the network).
Every run must last at least :data:`MIN_RUN_S` on its clock; a shorter run is reported
as too short, never as a number. ``ping`` times each round trip itself.

This module is pure: it writes the script and parses what comes back; running it is
:mod:`vmcompare.overhead`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import UsageError

MARK = "@@wl"
MIN_RUN_S = 1.0            # a run shorter than this on its clock is "too-fast": no value
GATEWAY = "@gateway"       # PEER value meaning "the default route's gateway, read inside"
CLOCKS = {"cpu": "CPU time of the workload process (CLOCK_PROCESS_CPUTIME_ID, ns)",
          "wall": "elapsed time (CLOCK_MONOTONIC, ns)"}


@dataclass(frozen=True)
class Workload:
    """One benchmark: a command doing ``size`` units of work, and how to report it."""

    name: str
    title: str
    unit: str
    size: int
    body: str                       # shell, may use $T $BB $WLDIR $PEER and {n} {reps}; prints mc-timer's line
    work_per_size: float = 1.0      # units of the reported figure per unit of size (see value())
    higher_is_better: bool = True
    needs: str = ""                 # "disk" (a writable $WLDIR) or "net" (a $PEER)
    chunk: int = 1                  # file-read: the file's size; the body repeats size // chunk times
    clock: str = "wall"             # which of mc-timer's clocks the figure comes from: "cpu" or "wall"

    def script(self) -> str:
        return self.body.format(n=self.size, reps=max(1, self.size // self.chunk))

    def value(self, seconds: float | None = None, rtt_us: float | None = None) -> float | None:
        """The reported figure from a run's seconds on this workload's clock (or ping's average round trip)."""
        if self.name == "net-rtt":
            return rtt_us
        if seconds is None or seconds < MIN_RUN_S - 1e-9:
            return None
        work = self.size * self.work_per_size
        return work / seconds if self.higher_is_better else seconds * self.work_per_size / self.size


_SH = '"$T" exec "$BB" sh -c '     # the timer forks the shell and times it
_CATALOGUE = (
    Workload("cpu", "CPU: integer mixing rounds", "Mrounds/s", 1000, '"$T" cpu {n}', clock="cpu"),
    Workload("memory", "memory: memset + read 64 MiB", "GiB/s", 110, '"$T" memory {n}', work_per_size=1 / 16,
             clock="cpu"),
    Workload("syscall", "syscalls: getppid(2)", "ns/syscall", 6500, '"$T" syscall {n}', work_per_size=1e9 / 1000,
             higher_is_better=False, clock="cpu"),
    Workload("badread", "syscalls: read(-1, buf, 0), EBADF", "ns/syscall", 9000, '"$T" badread {n}',
             work_per_size=1e9 / 1000, higher_is_better=False, clock="cpu"),
    Workload("process", "process: fork+exec busybox true", "µs/process", 1500,
             _SH + '\'i=0; while [ $i -lt {n} ]; do "$BB" true; i=$((i+1)); done\'',
             work_per_size=1e6, higher_is_better=False),
    Workload("file-write", "file: write + fsync", "MiB/s", 1024,
             '"$T" exec "$BB" dd if=/dev/zero of="$WLDIR/wl.dat" bs=1048576 count={n} conv=fsync', needs="disk"),
    Workload("file-read", "file: read back (page cache)", "MiB/s", 16384,
             _SH + '\'r=0; while [ $r -lt {reps} ]; do "$BB" dd if="$WLDIR/wl.dat" of=/dev/null bs=1048576 '
             '2>/dev/null || exit 1; r=$((r+1)); done\'', needs="disk"),
    Workload("net-rtt", "network: ICMP echo round trip", "µs", 100000,
             '"$T" exec "$BB" ping -A -q -c {n} -W 2 "$PEER"', higher_is_better=False, needs="net"),
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
                reps = max(1, round(w.size / _DEFAULT_SIZE["file-write"]))
                out.append(replace(w, size=written * reps, chunk=written))
                continue
            out.append(replace(w, size=size))
    return out


def grown(workloads: list[Workload], seconds_per_unit: dict[str, float], target_s: float) -> list[Workload]:
    """The workloads with each size raised (never lowered) so that a run is expected to last
    ``target_s`` at the probed ``seconds_per_unit``: a faster machine than the one the sizes were
    chosen on still runs every workload for more than :data:`MIN_RUN_S`."""
    out = []
    for w in workloads:
        per = seconds_per_unit.get(w.name)
        need = int(target_s / per) + 1 if per and per > 0 else w.size
        out.append(replace(w, size=need) if need > w.size else w)
    return out


def script(workloads: list[Workload], trials: int) -> str:
    """One busybox ``sh`` script running every workload ``trials`` times, interleaved (trial 1 of
    each, then trial 2 of each...), so a burst of noise does not hit one workload only.

    Environment: ``T`` (mc-timer's path, default ``mc-timer``), ``BB`` (busybox, default
    ``busybox``), ``WLDIR`` (a writable directory on the disk under test), ``PEER`` (address to
    ping; ``@gateway`` = the default route's)."""
    if trials < 1:
        raise UsageError("trials must be at least 1", op="write workload script")
    lines = ['T=${T:-mc-timer}', 'BB=${BB:-busybox}', 'WLDIR=${WLDIR:-/tmp}', 'PEER=${PEER:-}',
             f'if [ "$PEER" = "{GATEWAY}" ]; then',
             '  PEER=$("$BB" ip route | "$BB" awk \'$1 == "default" {print $3; exit}\')',
             'fi',
             'export T BB WLDIR PEER',
             f'echo "{MARK} env timer=$T bb=$BB wldir=$WLDIR peer=$PEER"',
             'trial=1',
             f'while [ $trial -le {trials} ]; do']
    for w in workloads:
        run = [f'  out=$({w.script()} 2>&1); rc=$?', f'  echo "{MARK} {w.name} $trial rc=$rc" $out']
        if w.needs == "net":
            run = (['  if [ -z "$PEER" ]; then', f'    echo "{MARK} {w.name} $trial skipped reason=no-peer"',
                    '  else'] + ["  " + line for line in run] + ['  fi'])
        lines += run
        if w.name == "file-read":
            lines.append('  "$BB" rm -f "$WLDIR/wl.dat"')
    lines += ['  trial=$((trial+1))', 'done', f'echo "{MARK} done"']
    return "\n".join(lines) + "\n"


@dataclass
class Sample:
    """One trial of one workload, as the script reported it (seconds: wall; cpu_seconds: CPU)."""

    workload: str
    trial: int
    status: str                     # ok | failed | too-fast | skipped
    seconds: float | None = None
    value: float | None = None
    detail: str = ""
    cpu_seconds: float | None = None


_LINE = re.compile(rf"^{re.escape(MARK)} (?P<name>[a-z-]+) (?P<trial>\d+) (?P<rest>.*)$")
_SHELL_RC = re.compile(r"^rc=(?P<rc>\d+)\s*(?P<tail>.*)$")
_TIMER = re.compile(r"@@t work=\d+ ns=(?P<ns>\d+) cpu_ns=(?P<cpu>\d+) rc=(?P<rc>\d+)")
_RTT = re.compile(r"round-trip min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+) ms")
_RECEIVED = re.compile(r"(\d+) packets transmitted, (\d+) packets received")


def _sample(w: Workload, trial: int, rest: str) -> Sample:
    if rest.startswith("skipped"):
        return Sample(w.name, trial, "skipped", detail=rest.partition("reason=")[2] or "skipped")
    shell, timer = _SHELL_RC.match(rest), _TIMER.search(rest)
    if shell is None or timer is None:
        return Sample(w.name, trial, "failed", detail=f"no timer line: {rest[:120]}")
    wall, cpu = int(timer["ns"]) / 1e9, int(timer["cpu"]) / 1e9
    rc = int(shell["rc"]) or int(timer["rc"])
    if rc != 0:
        return Sample(w.name, trial, "failed", wall, detail=f"exit {rc} {shell['tail'][:120]}", cpu_seconds=cpu)
    if w.name == "net-rtt":
        rtt, got = _RTT.search(rest), _RECEIVED.search(rest)
        if rtt is None:
            return Sample(w.name, trial, "failed", wall, detail="no ping summary", cpu_seconds=cpu)
        return Sample(w.name, trial, "ok", wall, w.value(rtt_us=float(rtt[2]) * 1000),
                      f"{got[2]}/{got[1]} replies" if got else "", cpu)
    used = cpu if w.clock == "cpu" else wall
    value = w.value(used)
    if value is None:
        return Sample(w.name, trial, "too-fast", wall, detail=f"ran {used:.3f} s ({w.clock} clock), under the "
                      f"{MIN_RUN_S:g} s minimum: raise the scale", cpu_seconds=cpu)
    return Sample(w.name, trial, "ok", wall, value, cpu_seconds=cpu)


def parse(text: str, workloads: list[Workload]) -> tuple[list[Sample], dict]:
    """Samples from the script's output, and the ``env`` line's fields (timer, bb, wldir, peer).

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
        elif line.startswith(f"{MARK} env "):
            env = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
        else:
            m = _LINE.match(line)
            if m and m["name"] in by_name:
                samples.append(_sample(by_name[m["name"]], int(m["trial"]), m["rest"]))
    if not finished:
        raise UsageError("workload output ends before its 'done' line (the run was cut short)",
                         op="parse workload output")
    return samples, env

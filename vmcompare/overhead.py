"""Overhead: the same workloads on the host, in a container and in a VM, as a Felter-style table.

A container's process runs on the host kernel like any other process: the namespaces
(namespaces(7)) only change what it can *see*, the cgroups (cgroups(7)) what it may *use*,
so its CPU and memory work costs the same as on the host; what can cost something is the
path its I/O takes (an overlay filesystem, a veth pair and a bridge, the seccomp filter
run on each system call, see seccomp(2)). A VM runs a second kernel on emulated or
virtualised hardware: every disk block crosses a virtio queue to QEMU, every packet
QEMU's network stack, and, under TCG, every guest instruction is *translated* in software.

:func:`compare` runs :mod:`vmcompare.workloads`' script in three places:

* **host**: ``busybox sh -c SCRIPT`` with the files in a temporary directory on the host's
  disk, ping to 127.0.0.1 (loopback);
* **container**: ``minicontainer run --rm --network none busybox sh -c SCRIPT``, files in the
  container's ``/tmp`` (its overlay upper directory, on the same host disk); the network
  workload alone runs in a second container on the default bridge and pings the bridge's
  gateway address, i.e. the host's end of the veth pair;
* **vm**: a guest booted by :mod:`vmcompare.qemu` (the only QEMU launcher) with a virtio
  disk (a raw ext4 image file on the host's disk, QEMU's default ``cache=writeback``, so
  the guest's ``fsync`` becomes a flush, then ``fdatasync`` of the image) and QEMU *user
  networking* restricted to the host (``-netdev user,restrict=on``): the guest pings
  10.0.2.2, the gateway that QEMU's own user-mode network stack (libslirp) answers inside
  the QEMU process on the host. No packet leaves the host.

Every VM figure carries its accelerator. Under TCG (no KVM here) the VM column measures
*emulation*, not virtualisation; :data:`PUBLISHED` holds the published KVM figures to set
beside ours, labelled as published.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from minicontainer.paths import project_build_dir

from . import workloads as wl
from .errors import UsageError, VMError
from .measure import host_labels, minicontainer_binary, percentile

ENVS = ("host", "container", "vm")
VM_GATEWAY = "10.0.2.2"        # QEMU user networking: the host side, answered by libslirp in QEMU
VM_ADDRESS = "10.0.2.15/24"    # the address libslirp expects its guest to use
GUEST_WLDIR = "/mnt/wl"

# Published figures (never ours): Felter et al. 2015 (IBM RC25482) and Agache et al., NSDI 2020.
PUBLISHED = {
    "cpu": "Felter 2015: Docker ≈ native for CPU",
    "memory": "Felter 2015: Docker ≈ native for memory",
    "net-rtt": "Felter 2015: KVM adds ~30 µs to a network round trip",
    "file-write": "Felter 2015: KVM ~½ of native random-I/O IOPS (theirs random, ours sequential)",
    "file-read": "Felter 2015: KVM ~½ of native random-I/O IOPS (theirs random, ours cached)",
    "boot": "Firecracker (NSDI 2020): ≤ 125 ms to /init, ≤ 5 MiB VMM overhead, with KVM",
}


@dataclass
class EnvRun:
    """One environment's run of the script."""

    env: str
    labels: dict
    samples: list[wl.Sample] = field(default_factory=list)
    wall_s: float | None = None
    error: str | None = None

    def values(self, workload: str) -> list[float]:
        return [s.value for s in self.samples if s.workload == workload and s.status == "ok" and s.value is not None]


@dataclass
class Comparison:
    labels: dict
    workloads: list[wl.Workload]
    trials: int
    runs: dict[str, EnvRun] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row per workload: median, p5, p95, n per environment, and overhead % vs the host
        (positive = worse than the host, whichever way the unit points)."""
        out = []
        for w in self.workloads:
            row = {"workload": w.name, "title": w.title, "unit": w.unit, "higher_is_better": w.higher_is_better,
                   "published": PUBLISHED.get(w.name, "")}
            for env, run in self.runs.items():
                vals = run.values(w.name)
                row[env] = ({"n": len(vals), "median": percentile(vals, 50), "p5": percentile(vals, 5),
                             "p95": percentile(vals, 95)} if vals else {"n": 0, "why": _why_missing(run, w.name)})
            host = row.get("host", {}).get("median")
            for env in self.runs:
                if env != "host":
                    row[f"{env}_overhead_pct"] = overhead_pct(host, row[env].get("median"), w.higher_is_better)
            out.append(row)
        return out


def _why_missing(run: EnvRun, workload: str) -> str:
    if run.error:
        return run.error
    statuses = [s for s in run.samples if s.workload == workload]
    return statuses[0].detail or statuses[0].status if statuses else "not run"


def overhead_pct(host: float | None, other: float | None, higher_is_better: bool) -> float | None:
    """How much worse than the host, in %: throughput lost, or extra time per operation."""
    if host is None or other is None or host <= 0 or other <= 0:
        return None
    return (host / other - 1) * 100 if higher_is_better else (other / host - 1) * 100


def _busybox() -> Path:
    from .initramfs import find_busybox
    return find_busybox()


def _parse_run(env: EnvRun, output: str, workloads) -> EnvRun:
    try:
        env.samples, fields = wl.parse(output, workloads)
        env.labels.update({f"script_{k}": v for k, v in fields.items()})
    except UsageError as err:
        env.error = f"{err.message}; output tail: {output[-300:]!r}"
    return env


def run_host(workloads, trials: int, *, workdir: Path | None = None, timeout: float = 600) -> EnvRun:
    """The script under the host's busybox ``sh``: files in ``workdir`` (a fresh temporary
    directory by default), ping to loopback."""
    bb = _busybox()
    own = workdir is None
    wdir = Path(tempfile.mkdtemp(prefix="vmcompare-wl-")) if own else Path(workdir)
    env = EnvRun("host", {"busybox": str(bb), "files": f"{wdir} (host filesystem)", "peer": "127.0.0.1 (loopback)"})
    try:
        t0 = time.perf_counter()
        done = subprocess.run([str(bb), "sh", "-c", wl.script(workloads, trials)], capture_output=True, text=True,
                              timeout=timeout, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "BB": str(bb),
                                                    "WLDIR": str(wdir), "PEER": "127.0.0.1"})
        env.wall_s = time.perf_counter() - t0
        return _parse_run(env, done.stdout, workloads)
    except subprocess.TimeoutExpired:
        env.error = f"host run exceeded {timeout:g} s"
        return env
    finally:
        if own:
            shutil.rmtree(wdir, ignore_errors=True)


def run_container(workloads, trials: int, *, state_root: Path | None = None, timeout: float = 600) -> EnvRun:
    """The script in ``minicontainer run --rm busybox``: ``--network none`` for everything but the
    network workload, which runs in a second container on the default bridge and pings its gateway."""
    binary = minicontainer_binary()
    own = state_root is None
    root = Path(tempfile.mkdtemp(prefix="vmcompare-ctr-")) if own else Path(state_root)
    env = EnvRun("container", {"runtime": f"minicontainer ({binary})", "image": "busybox (the host's busybox-static)",
                               "files": "/tmp in the container (overlay upper dir on the host filesystem)",
                               "peer": "the bridge gateway (host end of the veth pair)", "network": "none / bridge"})
    local = [w for w in workloads if w.needs != "net"]
    net = [w for w in workloads if w.needs == "net"]
    outputs = []
    try:
        pulled = subprocess.run([str(binary), "--root", str(root), "pull", "busybox"], capture_output=True, text=True)
        if pulled.returncode != 0:
            env.error = f"minicontainer pull busybox failed: {pulled.stderr.strip()[-200:]}"
            return env
        t0 = time.perf_counter()
        for group, network, peer in ((local, "none", ""), (net, "bridge", wl.GATEWAY)):
            if not group:
                continue
            argv = [str(binary), "--root", str(root), "run", "--rm", "--network", network, "-e", "BB=/bin/busybox",
                    "-e", "WLDIR=/tmp", "-e", f"PEER={peer}", "busybox", "/bin/sh", "-c", wl.script(group, trials)]
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0 and f"{wl.MARK} done" not in done.stdout:
                env.error = f"container ({network}) exited {done.returncode}: {done.stderr.strip()[-300:]}"
                return env
            outputs.append((group, done.stdout))
        env.wall_s = time.perf_counter() - t0
        for group, text in outputs:
            part = _parse_run(EnvRun("container", {}), text, group)
            if part.error:
                env.error = part.error
            env.samples += part.samples
        return env
    except subprocess.TimeoutExpired:
        env.error = f"container run exceeded {timeout:g} s"
        return env
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def _guest_prologue(disk: bool, net: bool) -> str:
    lines = ["BB=/bin/busybox"]
    if disk:
        lines += [f"mkdir -p {GUEST_WLDIR} && mount -t ext4 /dev/vda {GUEST_WLDIR} || echo '{wl.MARK} note no-disk'",
                  f"WLDIR={GUEST_WLDIR}"]
    if net:
        lines += ["ip link set lo up",
                  "for d in /sys/class/net/*; do n=${d##*/}; [ $n = lo ] || break; done",
                  f"ip link set $n up && ip addr add {VM_ADDRESS} dev $n && PEER={VM_GATEWAY}"]
    return "\n".join(lines) + "\nexport BB WLDIR PEER\n"


def run_vm(workloads, trials: int, *, accel: str = "auto", machine: str = "pc", memory_mib: int = 256,
           kernel=None, build_dir: Path | None = None, timeout: float = 600) -> EnvRun:
    """The script as the workload of a freshly booted guest with a virtio disk and user networking."""
    from . import initramfs
    from .guestkernel import DEFAULT_FLAVOUR, find_kernel
    from .kmod import ModuleIndex
    from .qemu import VMConfig, boot, resolve_accel
    build_dir = build_dir or project_build_dir()
    guest = find_kernel(kernel, DEFAULT_FLAVOUR, build_dir)
    chosen, why = resolve_accel(accel, build_dir=build_dir)
    disk = any(w.needs == "disk" for w in workloads)
    net = any(w.needs == "net" for w in workloads)
    env = EnvRun("vm", {"accel": chosen, "accel_reason": why, "machine": machine, "memory_mib": memory_mib,
                        "guest_kernel": guest.label,
                        "files": "ext4 on a virtio-blk raw image file (host filesystem, cache=writeback)",
                        "peer": f"{VM_GATEWAY}: QEMU user networking (libslirp in the QEMU process), restrict=on"})
    if guest.modules_dir is None:
        raise UsageError("the guest kernel has no modules directory (virtio_blk/virtio_net)", op="run workloads in vm",
                         path=guest.vmlinuz)
    wanted = ["virtio_pci"] + (["virtio_blk"] if disk else []) + (["virtio_net"] if net else [])
    modules = ModuleIndex(guest.modules_dir).load_order(wanted)
    tmp = Path(tempfile.mkdtemp(prefix="vmcompare-vm-", dir=build_dir))
    extra: list[str] = []
    try:
        if disk:
            need_mib = max((w.chunk for w in workloads if w.name == "file-read"), default=64) + 64
            image = tmp / "disk.img"
            with open(image, "wb") as f:
                f.truncate(need_mib * 2**20)
            mkfs = subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                                   str(image)], capture_output=True, text=True)
            if mkfs.returncode != 0:
                raise VMError(f"mkfs.ext4 failed: {mkfs.stderr.strip()[-200:]}", op="make guest disk", path=image)
            extra += ["-drive", f"file={image},format=raw,if=none,id=wl0,cache=writeback",
                      "-device", "virtio-blk-pci,drive=wl0"]
        if net:
            extra += ["-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"]
        spec = initramfs.InitSpec(workload=_guest_prologue(disk, net) + wl.script(workloads, trials), modules=modules)
        initrd = initramfs.build_cached(spec, build_dir / "guest" / "initramfs")
        cfg = VMConfig(kernel=guest.vmlinuz, initrd=initrd, machine=machine, accel=chosen, memory_mib=memory_mib,
                       extra=tuple(extra))
        outcome = boot(cfg, timeout=timeout, silence=20.0, retries=1, sample_at_init=False)
        if outcome.record is None:
            env.error = f"guest {outcome.failures[-1].status} (accel {chosen})"
            return env
        phases = outcome.record.phases()
        env.wall_s = outcome.record.t_exit - outcome.record.t_exec
        if phases.result_output is None:
            env.error = "guest reported no result: " + ("; ".join(phases.errors) or "no result line")
            return env
        return _parse_run(env, phases.result_output.decode(errors="replace"), workloads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compare(names=None, *, trials: int = 3, scale: float = 1.0, envs=ENVS, accel: str = "auto",
            machine: str = "pc", memory_mib: int = 256, kernel=None, build_dir: Path | None = None,
            progress=None) -> Comparison:
    """Run the chosen workloads ``trials`` times in each environment of ``envs``."""
    unknown = set(envs) - set(ENVS)
    if unknown:
        raise UsageError(f"unknown environment {sorted(unknown)[0]!r} (choose from {', '.join(ENVS)})",
                         op="compare overhead")
    workloads = wl.catalogue(names, scale)
    cmp = Comparison(host_labels(kind="overhead", trials=trials, scale=scale, clock="/proc/uptime (10 ms), in each "
                                 "environment; ping's own clock for net-rtt"), workloads, trials)
    for env in envs:
        if progress:
            progress(f"running {len(workloads)} workloads x {trials} in: {env}")
        if env == "host":
            cmp.runs[env] = run_host(workloads, trials)
        elif env == "container":
            cmp.runs[env] = run_container(workloads, trials)
        else:
            cmp.runs[env] = run_vm(workloads, trials, accel=accel, machine=machine, memory_mib=memory_mib,
                                  kernel=kernel, build_dir=build_dir)
    return cmp


# --- storage: three tables beside vmcompare.results' in the same SQLite file ---------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS overhead_runs (
    id INTEGER PRIMARY KEY, date TEXT, labels TEXT NOT NULL, workloads TEXT NOT NULL, trials INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS overhead_envs (
    run_id INTEGER NOT NULL REFERENCES overhead_runs(id) ON DELETE CASCADE, env TEXT NOT NULL,
    labels TEXT NOT NULL, wall_s REAL, error TEXT, PRIMARY KEY (run_id, env));
CREATE TABLE IF NOT EXISTS overhead_samples (
    run_id INTEGER NOT NULL REFERENCES overhead_runs(id) ON DELETE CASCADE, env TEXT NOT NULL,
    workload TEXT NOT NULL, trial INTEGER NOT NULL, status TEXT NOT NULL, seconds REAL, value REAL, detail TEXT);
"""


def _connect(path):
    import sqlite3
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(SCHEMA)
    return db


def save(cmp: Comparison, path) -> int:
    """Store a comparison whole (one transaction); returns its id."""
    db = _connect(path)
    try:
        with db:
            cur = db.execute("INSERT INTO overhead_runs (date, labels, workloads, trials) VALUES (?,?,?,?)",
                             (cmp.labels.get("date"), json.dumps(cmp.labels, sort_keys=True),
                              json.dumps([asdict(w) for w in cmp.workloads]), cmp.trials))
            run_id = cur.lastrowid
            for env, run in cmp.runs.items():
                db.execute("INSERT INTO overhead_envs VALUES (?,?,?,?,?)",
                           (run_id, env, json.dumps(run.labels, sort_keys=True), run.wall_s, run.error))
                db.executemany("INSERT INTO overhead_samples VALUES (?,?,?,?,?,?,?,?)",
                               [(run_id, env, s.workload, s.trial, s.status, s.seconds, s.value, s.detail)
                                for s in run.samples])
        return run_id
    finally:
        db.close()


def load(path, run_id: int | None = None) -> Comparison | None:
    """A stored comparison (the latest when ``run_id`` is None), or None when there is none."""
    if str(path) != ":memory:" and not Path(path).exists():
        return None
    db = _connect(path)
    try:
        q = "SELECT id, labels, workloads, trials FROM overhead_runs " + (
            "WHERE id = ?" if run_id is not None else "ORDER BY id DESC LIMIT 1")
        row = db.execute(q, (run_id,) if run_id is not None else ()).fetchone()
        if row is None:
            return None
        rid, labels, works, trials = row
        cmp = Comparison(json.loads(labels), [wl.Workload(**w) for w in json.loads(works)], trials)
        for env, elabels, wall, error in db.execute("SELECT env, labels, wall_s, error FROM overhead_envs "
                                                    "WHERE run_id = ?", (rid,)):
            cmp.runs[env] = EnvRun(env, json.loads(elabels), wall_s=wall, error=error)
        for env, *rest in db.execute("SELECT env, workload, trial, status, seconds, value, detail FROM "
                                     "overhead_samples WHERE run_id = ? ORDER BY rowid", (rid,)):
            cmp.runs[env].samples.append(wl.Sample(*rest))
        cmp.runs = {e: cmp.runs[e] for e in ENVS if e in cmp.runs}
        return cmp
    finally:
        db.close()


# --- the table ------------------------------------------------------------------------------

def env_heading(cmp: Comparison, env: str) -> str:
    """Column heading; the VM's names its accelerator, always."""
    if env == "vm":
        return f"VM ({cmp.runs['vm'].labels.get('accel', '?').upper()})"
    return env


def _cell(stats: dict) -> str:
    if not stats.get("n"):
        return "n/a"
    med = stats["median"]
    digits = 0 if med >= 100 else 1 if med >= 10 else 2
    spread = f" [{stats['p5']:.{digits}f}-{stats['p95']:.{digits}f}]" if stats["n"] > 1 else ""
    return f"{med:.{digits}f}{spread}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.0f}%"


def format_table(cmp: Comparison) -> str:
    """Felter et al.'s layout, as text: one row per workload, median [p5-p95] per environment and
    the overhead in % of the host (positive = worse)."""
    envs = list(cmp.runs)
    head = ["workload", "unit"] + [h for e in envs for h in
                                   ([env_heading(cmp, e)] if e == "host" else [env_heading(cmp, e), "overhead"])]
    rows = [head]
    for r in cmp.rows():
        cells = [r["workload"], r["unit"]]
        for e in envs:
            cells.append(_cell(r[e]))
            if e != "host":
                cells.append(_pct(r.get(f"{e}_overhead_pct")))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    notes = [f"median [p5-p95] of {cmp.trials} trial(s); overhead: % worse than the host; clock: "
             f"{cmp.labels.get('clock', '?')}"]
    for e, run in cmp.runs.items():
        if run.error:
            notes.append(f"{e}: FAILED: {run.error}")
    if "vm" in cmp.runs and cmp.runs["vm"].labels.get("accel") == "tcg":
        notes.append("VM under TCG: every guest instruction is translated in software, so the VM column measures "
                     "EMULATION, not virtualisation (KVM would run guest code natively)")
    return "\n".join(lines + notes)

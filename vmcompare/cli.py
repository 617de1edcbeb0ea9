"""``vmcompare``: boot real VMs, time them, and compare them with containers.

Thin by design (parse, call the library, print). Commands::

    vmcompare doctor                     what this host offers: QEMU, KVM (probed), guest kernels
    vmcompare fetch-kernel [--quiet]     download the guest kernels once (idempotent)
    vmcompare boot [--machine --accel --memory --trials --kernel]
    vmcompare compare [--trials N --container-trials M --png FILE]
    vmcompare results [--format table|csv|json] [--output FILE]
    vmcompare run [--share HOST:GUEST] [--host-root] [--kernel-arg ARG] -- COMMAND...
    vmcompare overhead [--trials N --scale X --workload W --env E]   host vs container vs VM table
    vmcompare density [--containers 1,5,20 --vms 1,2,4]             k instances at once + model
    vmcompare report [--output FILE]                                self-contained HTML report
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minicontainer.errors import MiniContainerError
from minicontainer.paths import project_build_dir

from .qemu import ACCELS, MACHINES


def _fmt_ms(v) -> str:
    return "-" if v is None else f"{v * 1000:8.0f}"


def _series_table(series) -> str:
    from .phases import PHASES
    head = "phase (ms after qemu exec)" if series.kind == "vm-boot" else "wall time (ms)"
    lines = [f"{head:<28} {'median':>8} {'p5':>8} {'p95':>8} {'min':>8}"]
    phases = [p for p in PHASES if p != "qemu_exec"] if series.kind == "vm-boot" else ["total"]
    for phase in phases:
        s = series.summary(phase)
        if s["n"]:
            lines.append(f"{phase:<28} {_fmt_ms(s['median'])} {_fmt_ms(s['p5'])} {_fmt_ms(s['p95'])} {_fmt_ms(s['min'])}")
    ok, failed = len(series.ok()), len(series.trials) - len(series.ok())
    lines.append(f"trials: {ok} ok, {failed} failed" + (f" ({', '.join(sorted({t.status for t in series.trials if t.status != 'ok'}))})" if failed else ""))
    rss = [t.rss_bytes for t in series.ok() if t.rss_bytes]
    if rss:
        uss = [t.uss_bytes for t in series.ok() if t.uss_bytes]
        lines.append(f"QEMU memory at /init: RSS {sorted(rss)[len(rss) // 2] / 2**20:.0f} MiB, "
                     f"USS {sorted(uss)[len(uss) // 2] / 2**20:.0f} MiB")
    lab = series.labels
    if lab.get("rss_bytes"):
        lines.append(f"memory of one running container: RSS {lab['rss_bytes'] / 2**20:.1f} MiB, "
                     f"USS {(lab.get('uss_bytes') or 0) / 2**20:.1f} MiB")
    keys = ("accel", "accel_reason", "machine", "memory_mib", "guest_kernel", "qemu_version", "host_kernel",
            "cpu_model", "cores", "date")
    lines += [f"  {k}: {lab[k]}" for k in keys if k in lab]
    return "\n".join(lines)


def cmd_doctor(args) -> int:
    from .accel import KVM_DEVICE
    from .guestkernel import FLAVOURS, cached_kernel
    from .initramfs import find_busybox
    from .qemu import probe_kvm, qemu_version
    from .results import db_path
    version = qemu_version()
    print(f"qemu-system-x86_64: {version or 'not found (apt-get install qemu-system-x86)'}")
    for flavour in FLAVOURS:
        k = cached_kernel(flavour)
        print(f"guest kernel ({flavour}): {k.vmlinuz if k else 'not fetched (vmcompare fetch-kernel)'}")
    try:
        print(f"busybox: {find_busybox()}")
    except MiniContainerError as err:
        print(f"busybox: {err.message}")
    if KVM_DEVICE.exists():
        verdict = probe_kvm(refresh=args.refresh)
        print(f"kvm: present, {verdict.summary()}" + (" [cached]" if verdict.cached else ""))
    else:
        print(f"kvm: {KVM_DEVICE} absent, TCG will be used")
    path = db_path()
    print(f"results: {path if path.exists() else 'none yet'}")
    return 0 if version else 1


def cmd_fetch_kernel(args) -> int:
    from .guestkernel import FLAVOURS, fetch_kernel
    log = (lambda *_: None) if args.quiet else print
    for flavour in (FLAVOURS if args.flavour == "all" else [args.flavour]):
        k = fetch_kernel(flavour, log=log)
        if not args.quiet:
            print(f"{flavour}: {k.vmlinuz}")
    return 0


def _save(series) -> None:
    from .results import ResultStore, db_path
    with ResultStore(db_path()) as store:
        run_id = store.save(series)
    print(f"saved as run {run_id} in {db_path()}")


def cmd_boot(args) -> int:
    from .measure import boot_series
    series = boot_series(args.trials, machine=args.machine, accel=args.accel, memory_mib=args.memory,
                         kernel=args.kernel, timeout=args.timeout)
    print(_series_table(series))
    if not args.no_save:
        _save(series)
    if args.png and series.ok():
        from .plot import timeline_figure
        timeline_figure(series).savefig(args.png, dpi=100, bbox_inches="tight")
        print(f"figure: {args.png}")
    return 0 if series.ok() else 1


def cmd_compare(args) -> int:
    from .measure import boot_series, container_series
    containers = container_series(args.container_trials)
    vms = boot_series(args.trials, machine=args.machine, accel=args.accel, memory_mib=args.memory,
                      kernel=args.kernel)
    print("== container start (minicontainer run --rm busybox /bin/true)")
    print(_series_table(containers))
    print(f"== VM boot to power-off ({vms.labels['machine']}, {vms.labels['accel']})")
    print(_series_table(vms))
    c, v = containers.summary(), vms.summary()
    if c["n"] and v["n"]:
        print(f"median: container {c['median'] * 1000:.0f} ms, VM {v['median'] * 1000:.0f} ms "
              f"({v['median'] / c['median']:.0f}x)")
    if not args.no_save:
        _save(containers)
        _save(vms)
    png = Path(args.png) if args.png else project_build_dir() / "vmcompare-compare.png"
    if c["n"] and v["n"]:
        from .plot import compare_figure
        png.parent.mkdir(parents=True, exist_ok=True)
        compare_figure(containers, vms).savefig(png, dpi=100, bbox_inches="tight")
        print(f"figure: {png}")
    return 0 if c["n"] and v["n"] else 1


def cmd_results(args) -> int:
    from .results import open_results
    store, note = open_results()
    with store:
        if args.format == "csv":
            text = store.to_csv()
        elif args.format == "json":
            text = store.to_json()
        else:
            rows = [note]
            for run in store.runs():
                s = store.load(run["id"]).summary()
                lab = run["labels"]
                med = f"{s['median'] * 1000:.0f} ms" if s["n"] else "-"
                rows.append(f"{run['id']:>4} {run['kind']:<16} {lab.get('accel', '-'):<4} {lab.get('machine', '-'):<8} "
                            f"n={s['n']:<3} median {med:>8}  {lab.get('date', '')}  [{run['source']}]")
            text = "\n".join(rows) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_run(args) -> int:
    from .guest import run_in_guest
    shares = []
    for item in args.share:
        host, sep, guest = item.partition(":")
        if not sep:
            raise MiniContainerError(f"--share wants HOST:GUEST, not {item!r}", op="parse arguments")
        shares.append((host, guest))
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise MiniContainerError("no command given", op="parse arguments")
    result = run_in_guest(command, share=shares, host_root=args.host_root, kernel_args=args.kernel_arg,
                          workdir=args.workdir, cgroup2=args.cgroup2, timeout=args.timeout, accel=args.accel,
                          machine=args.machine, kernel=args.kernel, memory_mib=args.memory)
    sys.stdout.write(result.output)
    print(f"[guest exit {result.exit_code}, {result.seconds:.1f} s, {result.kernel}, {result.accel}]", file=sys.stderr)
    return result.exit_code


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_overhead(args) -> int:
    from .overhead import compare, format_table, save
    from .results import db_path
    cmp = compare(args.workload or None, trials=args.trials, scale=args.scale, envs=args.env or ("host", "container", "vm"),
                  accel=args.accel, machine=args.machine, memory_mib=args.memory, kernel=args.kernel,
                  progress=_progress)
    print(format_table(cmp))
    if not args.no_save:
        print(f"saved as overhead run {save(cmp, db_path())} in {db_path()}")
    return 1 if any(run.error for run in cmp.runs.values()) else 0


def _ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MiniContainerError(f"want a list like 1,5,20, not {text!r}", op="parse arguments") from None
    if any(k < 1 for k in ks):
        raise MiniContainerError("instance counts must be at least 1", op="parse arguments")
    return ks


def cmd_density(args) -> int:
    from . import density
    from .results import db_path
    result = density.measure(_ks(args.containers), _ks(args.vms), vm_memory_mib=args.memory, accel=args.accel,
                             kernel=args.kernel, progress=_progress)
    print(f"{'kind':<10} {'k':>3} {'last up (s)':>12} {'PSS/instance MiB':>17} {'USS/instance MiB':>17}")
    for p in result.points:
        pss, uss = p.per_instance_mib("pss"), p.per_instance_mib("uss")
        print(f"{p.kind:<10} {p.k:>3} {'-' if p.storm_s is None else f'{p.storm_s:.2f}':>12} "
              f"{'-' if pss is None else f'{pss:.1f}':>17} {'-' if uss is None else f'{uss:.1f}':>17}"
              + (f"  error: {p.error}" if p.error else ""))
    limits = density.host_limits()
    for c in result.costs().values():
        print(density.projection(c, args.host_ram * 1024, args.host_cores, limits=limits))
    if not args.no_save:
        print(f"saved as density run {density.save(result, db_path())} in {db_path()}")
    return 1 if any(p.error for p in result.points) else 0


def cmd_report(args) -> int:
    from .report import write_report
    from .results import db_path
    out = Path(args.output) if args.output else project_build_dir() / "vmcompare-report.html"
    print(f"report: {write_report(out, Path(args.db) if args.db else db_path())}")
    return 0


def _vm_options(p: argparse.ArgumentParser, memory: int = 256) -> None:
    p.add_argument("--machine", choices=MACHINES, default="pc")
    p.add_argument("--accel", choices=ACCELS, default="auto")
    p.add_argument("--memory", type=int, default=memory, help="guest memory in MiB")
    p.add_argument("--kernel", help="boot this vmlinuz instead of the cached guest kernel")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmcompare", description="boot real VMs and compare them with containers")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("doctor", help="what this host offers for VMs")
    p.add_argument("--refresh", action="store_true", help="probe KVM again instead of using the cached verdict")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("fetch-kernel", help="download the guest kernels (nothing when cached)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--flavour", choices=("all", "cloud", "generic"), default="all")
    p.set_defaults(func=cmd_fetch_kernel)
    p = sub.add_parser("boot", help="boot the guest N times and show its boot phases")
    _vm_options(p)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60.0, help="hard deadline per boot, seconds")
    p.add_argument("--no-save", action="store_true", help="do not store the series in the results database")
    p.add_argument("--png", help="write the boot-phase timeline figure here")
    p.set_defaults(func=cmd_boot)
    p = sub.add_parser("compare", help="container start vs VM boot")
    _vm_options(p)
    p.add_argument("--trials", type=int, default=5, help="VM boots")
    p.add_argument("--container-trials", type=int, default=10)
    p.add_argument("--png", help="write the comparison figure here (default: build/vmcompare-compare.png)")
    p.add_argument("--no-save", action="store_true")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("results", help="list or export stored results")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_results)
    p = sub.add_parser("run", help="boot a guest and run a command in it")
    _vm_options(p, memory=512)
    p.add_argument("--share", action="append", default=[], metavar="HOST:GUEST", help="share a host folder (ro)")
    p.add_argument("--host-root", action="store_true", help="share / read-only and chroot into it")
    p.add_argument("--kernel-arg", action="append", default=[], help="extra guest kernel argument")
    p.add_argument("--cgroup2", action="store_true", help="mount cgroup2 on /sys/fs/cgroup first")
    p.add_argument("--workdir", help="directory to run the command in (inside the guest)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_run)
    from .overhead import ENVS
    from .workloads import NAMES
    p = sub.add_parser("overhead", help="the same workloads on the host, in a container and in a VM")
    _vm_options(p)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every workload's size")
    p.add_argument("--workload", action="append", choices=NAMES, help="only this workload (repeatable)")
    p.add_argument("--env", action="append", choices=ENVS, help="only this environment (repeatable)")
    p.add_argument("--no-save", action="store_true")
    p.set_defaults(func=cmd_overhead)
    p = sub.add_parser("density", help="memory and start time of k instances started at once, and the model")
    _vm_options(p, memory=128)
    p.add_argument("--containers", default="1,5,20", help="container counts, e.g. 1,5,20")
    p.add_argument("--vms", default="1,2,4", help="VM counts, e.g. 1,2,4")
    p.add_argument("--host-ram", type=float, default=24, help="GiB of the host to project for")
    p.add_argument("--host-cores", type=int, default=2, help="cores of the host to project for")
    p.add_argument("--no-save", action="store_true")
    p.set_defaults(func=cmd_density)
    p = sub.add_parser("report", help="write a self-contained HTML report of the last comparison")
    p.add_argument("--output", help="HTML file (default: build/vmcompare-report.html)")
    p.add_argument("--db", help="results database (default: build/vmcompare-results.sqlite)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        return int(args.func(args) or 0)
    except MiniContainerError as err:
        print(f"vmcompare: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

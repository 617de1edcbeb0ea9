#!/usr/bin/env python3
"""How long does it take to start a container? minicontainer against runc, crun and a floor.

Each contender starts ``/bin/true`` in the same busybox root filesystem (the unpacked
layer of the project's own ``busybox`` image) with new pid, net, ipc, uts and mount
namespaces, and waits for it to exit:

* ``minicontainer --root R run --rm --network none busybox /bin/true``: the real console
  script, whose shebang is the venv's real interpreter (never a pyenv shim);
* ``runc --root S run --bundle B ID`` and ``crun --root S run --bundle B ID`` (runc(8),
  crun(1)): ``run`` = create + start + wait + delete, so nothing stays behind;
* ``unshare --pid --fork --mount --uts --ipc --net chroot ROOTFS /bin/true``
  (unshare(1), chroot(1)): the floor, the namespaces alone without any runtime around
  them (no overlay, no pivot_root(2), no /proc, no cgroup);
* ``minicontainer-engine`` and ``docker-engine``: ``minicontainer -H unix://SOCK run --rm ...``
  and ``docker -H unix://SOCK run --rm ...``, a fresh client process per run, through one
  warm ``minicontainer engine`` on the same state (see _engine.py); ``docker --version`` is
  a reference row, the docker CLI's own start.

Three reference rows are timed in the same rounds: the bare interpreter (``python -c
pass``), the interpreter importing what the run path imports, so minicontainer's time
splits into start-up, imports and work, and ``python_floor.py``: the least any Python
runtime must do (cgroups, namespaces, an overlay root, pivot_root, exec), started by the
same interpreter. All run behind the same ``unshare -m`` wrapper (see _common.py for why).

Every run is preceded by an idle gap (``--gap``, 0.1 s). Moving a process into a cgroup
v1 hierarchy waits for an RCU grace period (about ten milliseconds here), but a second
move soon after the first does not: back to back, a contender would inherit its
predecessor's grace period and the order of the contenders would decide the result. After
the gap every contender starts from the same state, as a container started by hand does.
The report
gives medians, one ``minicontainer/X = R x`` line per pair, the target (<= 0.9x runc)
honestly met or not, and the imports the run path pays for (``python -X importtime``):
the start path must stay free of pyroute2, matplotlib, Jupyter, IPython and psutil.

Usage: ``.venv/bin/python bench/start_latency.py [--rounds 30] [--warmup 3] [--smoke]``
(as root). Exit status 0 when every contender ran and nothing was left behind, 1 on a
failure, a forbidden import or a leftover.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (BenchError, Summary, Wrapper, busybox_rootfs, cgroup_wrapper,  # noqa: E402
                     format_ms, forbidden_imports, machine_info, make_bundle, median, mounts_under,
                     paired_ratios, paired_runs, parse_importtime, ratio, ratio_line, time_command,
                     tool_version)
from _engine import Engine, find_docker  # noqa: E402

from minicontainer import paths  # noqa: E402

TARGET = 0.9                    # minicontainer/runc must be at or below this
FORBIDDEN = ("pyroute2", "matplotlib", "jupyter*", "IPython", "ipykernel", "psutil")
SHIMS = ("/.pyenv/shims/", "/shims/")
PYTHON_REF = "python -c pass"   # reference rows, not contenders
IMPORTS_REF = "python+imports"
FLOOR_REF = "python_floor"
FLOOR_SCRIPT = Path(__file__).resolve().parent / "python_floor.py"
ENGINE_ROWS = ("minicontainer-engine", "docker-engine")   # clients through `minicontainer engine`
ENGINE_TARGETS = {"minicontainer-engine": 0.9, "docker-engine": 1.0}
DIRECT_TARGET = 1.5             # the daemonless CLI, once lighter: minicontainer/runc at or below this
DOCKER_REF = "docker --version"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="start_latency.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30, help="measured rounds (each runs every contender once)")
    p.add_argument("--warmup", type=int, default=3, help="rounds run first and thrown away")
    p.add_argument("--importtime-runs", type=int, default=3, help="python -X importtime runs (medians)")
    p.add_argument("--smoke", action="store_true", help="a quick check: 2 rounds, no warm-up, 1 importtime run")
    p.add_argument("--tmp", type=Path, default=None, help="parent directory for the temporary state")
    p.add_argument("--gap", type=float, default=0.1,
                   help="idle seconds before each run, so that no run inherits another's cgroup grace period")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before one run counts as hung")
    p.add_argument("--minicontainer", default=str(Path(sys.executable).parent / "minicontainer"),
                   help="the console script to time (default: the one beside this interpreter)")
    args = p.parse_args(argv)
    if args.smoke:
        args.rounds, args.warmup, args.importtime_runs = 2, 0, 1
    if args.rounds < 1 or args.warmup < 0 or args.importtime_runs < 1 or args.gap < 0:
        p.error("--rounds and --importtime-runs must be >= 1, --warmup and --gap >= 0")
    return args


# --- the contenders -------------------------------------------------------------------------

def find_tools(script: str) -> dict[str, str]:
    tools = {"minicontainer": script}
    for name in ("runc", "crun", "unshare", "chroot"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
        if not found:
            raise BenchError(f"{name} is not installed (apt-get install {name if name != 'chroot' else 'coreutils'})",
                             op="find tools")
        tools[name] = found
    if not os.access(script, os.X_OK):
        raise BenchError("console script not found or not executable (run 'make venv')", op="find tools",
                         path=script)
    return tools


def script_interpreter(script: str) -> str:
    """The interpreter in the script's ``#!`` line (the venv's python: run it by this name,
    not its realpath, or the venv's site-packages are lost); refuse a pyenv shim."""
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace").strip()
    if not first.startswith("#!"):
        raise BenchError("no #! line", op="check interpreter", path=script)
    interp = first[2:].split()[0]
    real = os.path.realpath(interp)
    if any(s in interp or s in real for s in SHIMS):
        raise BenchError(f"its interpreter {interp} is a shim: timing would measure the shim",
                         op="check interpreter", path=script)
    return interp


def run_tag() -> str:
    """The prefix of this run's runc/crun container IDs (and so of their cgroups)."""
    return f"mcbench-{os.getpid()}-"


def contenders(tools: dict[str, str], tmp: Path, state: Path, rootfs: Path, bundle: Path,
               wrapper: Wrapper, interpreter: str, run_path_modules: list[str],
               engine_host: str | None = None) -> dict[str, object]:
    """name -> function(round) -> argv, in the order they are reported. The last two are
    no contenders but reference rows: the bare interpreter (Python starting up, site and
    .pth files, before a line of ours runs) and the interpreter importing every module the
    run path imports, without doing anything (a module that fails to import, such as an
    optional probe, is skipped as it was on the run path)."""
    tag = run_tag()

    def mc(_i):
        return wrapper.wrap([tools["minicontainer"], "--root", str(state), "run", "--rm",
                             "--network", "none", "busybox", "/bin/true"])

    def oci(runtime):
        def build(i):
            return wrapper.wrap([tools[runtime], "--root", str(tmp / f"{runtime}-state"), "run",
                                 "--bundle", str(bundle), f"{tag}{runtime}-{i}"])
        return build

    def floor(_i):
        return wrapper.wrap([tools["unshare"], "--pid", "--fork", "--mount", "--uts", "--ipc", "--net",
                             tools["chroot"], str(rootfs), "/bin/true"])

    def python(_i):
        return wrapper.wrap([interpreter, "-c", "pass"])

    importer = ("import importlib\nfor m in %r:\n    try:\n        importlib.import_module(m)\n"
                "    except ImportError:\n        pass\n" % (run_path_modules,))

    def imports(_i):
        return wrapper.wrap([interpreter, "-c", importer])

    def python_floor(_i):
        return wrapper.wrap(floor_argv(interpreter, tmp, rootfs))

    def client(name):
        def build(_i):
            return wrapper.wrap([tools[name], "-H", engine_host, "run", "--rm", "--network", "none", "busybox",
                                 "/bin/true"])
        return build

    def docker_alone(_i):
        return wrapper.wrap([tools["docker"], "--version"])

    runs = {"minicontainer": mc, "runc": oci("runc"), "crun": oci("crun"), "unshare": floor}
    if engine_host:
        runs.update({ENGINE_ROWS[0]: client("minicontainer"), ENGINE_ROWS[1]: client("docker")})
    runs.update({PYTHON_REF: python, IMPORTS_REF: imports, FLOOR_REF: python_floor})
    if engine_host:
        runs[DOCKER_REF] = docker_alone
    return runs


def floor_argv(interpreter: str, tmp: Path, rootfs: Path, phases: bool = False) -> list[str]:
    """``python_floor.py``, run by the console script's own interpreter, working in ``tmp/floor``.
    Like the console script, a two-line program imports it from its compiled bytecode
    (see :func:`compile_floor`), so neither pays for compiling source."""
    work = tmp / "floor"
    work.mkdir(exist_ok=True)
    launcher = (f"import sys; sys.path.insert(0, {str(FLOOR_SCRIPT.parent)!r}); import python_floor; "
                f"sys.exit(python_floor.run(sys.argv[1:]))")
    return [interpreter, "-c", launcher] + (["--phases"] if phases else []) + [
        str(work), str(rootfs), str(paths.CGROUP_ROOT), str(paths.PROC_ROOT)]


def compile_floor() -> None:
    """Write python_floor's .pyc (PYTHONDONTWRITEBYTECODE may be set, as in the Makefile's
    environment; the package's own bytecode is compiled by ``make venv`` for the same reason)."""
    import py_compile
    try:
        py_compile.compile(str(FLOOR_SCRIPT), doraise=True)
    except (OSError, py_compile.PyCompileError) as err:
        raise BenchError(f"cannot compile: {err}", op="compile python floor", path=FLOOR_SCRIPT) from err


def grace_period(interpreter: str, tmp: Path, rootfs: Path, wrapper: Wrapper, gap: float, timeout: float,
                 runs: int = 5) -> float:
    """Median milliseconds ``python_floor.py --phases`` spent writing PID 1 into its cgroups
    (the RCU grace period a cgroup v1 migration waits for), each run after the idle gap."""
    waited = []
    for _ in range(runs):
        time.sleep(gap)
        res = subprocess.run(wrapper.wrap(floor_argv(interpreter, tmp, rootfs, phases=True)),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        found = re.search(r"cgroup migration: ([0-9.]+) ms", res.stderr)
        if res.returncode != 0 or not found:
            tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise BenchError(f"exit status {res.returncode}: {tail}", op="python floor --phases",
                             path=FLOOR_SCRIPT)
        waited.append(float(found.group(1)))
    return median(waited)


# --- imports on the run path -------------------------------------------------------------------

def importtime_report(interpreter: str, script: str, state: Path, wrapper: Wrapper, runs: int,
                      timeout: float) -> tuple[list[str], bool, list[str]]:
    """Run the real ``run`` path under ``-X importtime``. Returns the lines to print, whether
    it is clean (nothing forbidden), and the modules the program itself imported (depth 0,
    in order): importing just those is the run path's import cost without its work."""
    samples: dict[str, list[int]] = {}
    selfs: dict[str, list[int]] = {}
    depth0: list[int] = []
    modules = set()
    bad: set[str] = set()
    direct: list[str] = []
    for _ in range(runs):
        argv = wrapper.wrap([interpreter, "-X", "importtime", script, "--root", str(state), "run", "--rm",
                             "--network", "none", "busybox", "/bin/true"])
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            said = [ln for ln in res.stderr.splitlines() if not ln.startswith("import time:")][-1:]
            raise BenchError(f"exit status {res.returncode}: {(said or ['no error output'])[0].lower()}",
                             op="importtime run", path=script)
        records = parse_importtime(res.stderr)
        if not records:
            raise BenchError("no import records in stderr", op="importtime run", path=script)
        for rec in records:
            samples.setdefault(rec.module, []).append(rec.cumulative_us)
            selfs.setdefault(rec.module, []).append(rec.self_us)
            modules.add(rec.module)
        depth0.append(sum(r.cumulative_us for r in records if r.depth == 0))
        direct += [r.module for r in records if r.depth == 0 and r.module not in direct]
        bad.update(forbidden_imports(records, FORBIDDEN))
    cumul = sorted(((median(v), m) for m, v in samples.items()), reverse=True)
    lines = [f"imports on the run path (python -X importtime, median of {runs} run(s)): "
             f"{median(depth0) / 1000:.1f} ms in {len(modules)} modules",
             "  top 10 by cumulative time:"]
    lines += [f"    {us / 1000:6.1f} ms  {mod}" for us, mod in cumul[:10]]
    own = sorted(((median(v), m) for m, v in selfs.items()), reverse=True)
    lines.append("  top 10 by self time (the module's own code, without what it imports):")
    lines += [f"    {us / 1000:6.1f} ms  {mod}" for us, mod in own[:10]]
    stdlib = sys.stdlib_module_names
    other = sorted({m.split(".")[0] for m in modules} - set(stdlib) - {"minicontainer"})
    lines.append(f"  names outside the standard library and minicontainer (site hooks, optional probes): "
                 f"{', '.join(other) or 'none'}")
    lines.append(f"  forbidden ({', '.join(FORBIDDEN)}): {', '.join(sorted(bad)) or 'none'}")
    return lines, not bad, direct


# --- leftovers -------------------------------------------------------------------------------

def leftovers(tmp: Path, state: Path, tools: dict[str, str], wrapper: Wrapper) -> list[str]:
    """What the runs left: runc/crun containers (deleted here), their cgroups, minicontainer
    containers, mounts under the temporary directory. Reported, because a benchmark that
    leaks is wrong."""
    left = []
    for runtime in ("runc", "crun"):
        sdir = tmp / f"{runtime}-state"
        for cid in sorted(os.listdir(sdir)) if sdir.is_dir() else []:
            left.append(f"{runtime} container {cid}")
            subprocess.run(wrapper.wrap([tools[runtime], "--root", str(sdir), "delete", "-f", cid]),
                           capture_output=True, timeout=60)
    cdir = state / "containers"
    left += [f"minicontainer container {c}" for c in sorted(os.listdir(cdir)) if not c.startswith(".")] \
        if cdir.is_dir() else []
    fdir = tmp / "floor"
    left += [f"python floor directory {d}" for d in sorted(os.listdir(fdir))] if fdir.is_dir() else []
    left += [f"mount {m}" for m in mounts_under(tmp, paths.PROC_ROOT)]
    tag = run_tag()
    for dirpath, dirnames, _ in os.walk(paths.CGROUP_ROOT):
        left += [f"cgroup {os.path.join(dirpath, d)}" for d in dirnames
                 if d.startswith(tag) or d.startswith("pyfloor-")]
    return left


def timed_after_gap(argv: list[str], args) -> float:
    """Sleep ``args.gap`` seconds (outside the clock), then time one run."""
    time.sleep(args.gap)
    return time_command(argv, args.timeout)


# --- the report ------------------------------------------------------------------------------

def report(times: dict[str, list[float]], args, tools, interpreter: str, wrapper: Wrapper,
           grace_ms: float) -> list[str]:
    info = machine_info(paths.PROC_ROOT)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "start latency: /bin/true in a busybox root with new pid, net, ipc, uts and mount namespaces",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['kernel']}, load {load}",
        f"date: {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
        f"minicontainer: {tools['minicontainer']} (#! {interpreter} -> {os.path.realpath(interpreter)}, "
        f"not a shim)",
        f"runtimes: {tool_version([tools['runc'], '--version'])}; {tool_version([tools['crun'], '--version'])}",
        f"method: {args.rounds} rounds after {args.warmup} warm-up round(s); each round runs every contender "
        f"once, order rotated and reversed (ABAB...), each run after {args.gap:g} s idle; wall time = "
        f"time.perf_counter around the subprocess",
        f"wrapper: {wrapper.note}",
        "",
        f"  {'contender':<20} {'median':>9}   {'p25 - p75':>17}   {'min':>8}",
    ]
    for name, samples in times.items():
        s = Summary.of(name, samples)
        lines.append(f"  {name:<20} {format_ms(s.median):>9}   {format_ms(s.p25):>8} - {s.p75 * 1000:.1f} ms"
                     f"   {format_ms(s.minimum):>8}")
    lines.append(f"  (reference rows: {PYTHON_REF} = the venv's interpreter alone; {IMPORTS_REF} = it importing "
                 f"every module the run path imports, and nothing else; {FLOOR_REF} = bench/python_floor.py, the "
                 f"least a Python runtime must do, by the same interpreter)")
    py, imp, mcm = (median(times[k]) for k in (PYTHON_REF, IMPORTS_REF, "minicontainer"))
    lines.append(f"  minicontainer's median, roughly (differences of medians): interpreter {format_ms(py)}, "
                 f"imports {format_ms(imp - py)}, the rest (the work itself) {format_ms(mcm - imp)}")
    lines.append("")
    mc = times["minicontainer"]
    checks = []
    for other in ("runc", "crun", "unshare"):
        lines.append(ratio_line("minicontainer", other, ratio(median(mc), median(times[other]))))
        checks.append(f"{other} {median(paired_ratios(mc, times[other])):.2f}x")
    lines.append(f"(median of the per-round ratios, as a check: {', '.join(checks)})")
    floor_r = ratio(median(times[FLOOR_REF]), median(times["runc"]))
    lines.append(ratio_line(FLOOR_REF, "runc", floor_r))
    lines.append(f"(moving PID 1 into its cgroups waited {grace_ms:.1f} ms in {FLOOR_REF}, median of 5 runs: "
                 f"an RCU grace period every runtime pays on cgroup v1, hidden only by overlapping it)")
    if ENGINE_ROWS[0] in times:
        for name in ENGINE_ROWS:
            lines.append(ratio_line(name, "runc", ratio(median(times[name]), median(times["runc"]))))
        lines.append(f"({DOCKER_REF} = {format_ms(median(times[DOCKER_REF]))}: the docker CLI's own start, "
                     f"before it sends a request; both clients are fresh processes, the engine a warm one)")
    r = ratio(median(mc), median(times["runc"]))
    verdict = "met" if r <= TARGET else "NOT met"
    lines.append(f"target: minicontainer/runc <= {TARGET:.2f}x: {verdict} ({r:.2f}x)")
    verdict = "met" if r <= DIRECT_TARGET else "NOT met"
    lines.append(f"target: minicontainer/runc <= {DIRECT_TARGET:.2f}x (the daemonless CLI): {verdict} ({r:.2f}x)")
    for name, target in ENGINE_TARGETS.items() if ENGINE_ROWS[0] in times else ():
        e = ratio(median(times[name]), median(times["runc"]))
        lines.append(f"target: {name}/runc <= {target:.2f}x: {'met' if e <= target else 'NOT met'} ({e:.2f}x)")
    if floor_r > TARGET:
        lines.append(f"({FLOOR_REF}, the unavoidable steps alone in the cheapest order we found, is above the "
                     f"target too, and a real runtime does all of that and more)")
    if args.smoke:
        lines.append("(smoke mode: 2 rounds, no warm-up; the ratios above are not a measurement)")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("start_latency: needs root (namespaces, mounts, cgroups)", file=sys.stderr)
        return 1
    tmp = None
    status = 0
    try:
        tools = find_tools(args.minicontainer)
        interpreter = script_interpreter(tools["minicontainer"])
        wrapper = cgroup_wrapper(tools["unshare"], "/bin/sh", paths.CGROUP_ROOT, paths.PROC_ROOT)
        tmp = Path(tempfile.mkdtemp(prefix="mcbench-", dir=args.tmp))
        state = tmp / "state"
        rootfs = busybox_rootfs(state)
        bundle = tmp / "bundle"
        make_bundle(bundle, rootfs, tools["runc"])
        compile_floor()
        try:
            imp_lines, clean, run_path_modules = importtime_report(
                interpreter, tools["minicontainer"], state, wrapper, args.importtime_runs, args.timeout)
            tools["docker"] = find_docker()
            with Engine(tools["minicontainer"], state, tmp, args.timeout) as engine:
                runs = contenders(tools, tmp, state, rootfs, bundle, wrapper, interpreter, run_path_modules,
                                  engine.host)
                times = paired_runs(runs, args.rounds, args.warmup,
                                    timer=lambda argv: timed_after_gap(argv, args))
            served = engine.requests()
            if served < 2 * (args.rounds + args.warmup):
                raise BenchError(f"the engine logged {served} requests: the clients did not go through it",
                                 op="check engine")
            grace_ms = grace_period(interpreter, tmp, rootfs, wrapper, args.gap, args.timeout)
            lines = report(times, args, tools, interpreter, wrapper, grace_ms)
        finally:
            left = leftovers(tmp, state, tools, wrapper)
            if left and sys.exc_info()[0] is not None:
                print(f"start_latency: left behind: {', '.join(left)}", file=sys.stderr)
        print("\n".join(lines + [""] + imp_lines))
        print(f"leftovers: {', '.join(left) or 'none'}")
        if not clean:
            print("start_latency: forbidden imports on the container start path", file=sys.stderr)
            status = 1
        if left:
            print("start_latency: the runs left things behind (runc/crun containers deleted now)",
                  file=sys.stderr)
            status = 1
    except BenchError as err:
        print(f"start_latency: {err}", file=sys.stderr)
        status = 1
    finally:
        if tmp is not None:
            if mounts_under(tmp, paths.PROC_ROOT):
                print(f"start_latency: {tmp} still has mounts; not removing it", file=sys.stderr)
                status = 1
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

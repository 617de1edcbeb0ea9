"""How much memory does an idle detached container cost the host?

Start k idle containers (``run -d busybox sleep 600``) for k in 1, 5, 20 and measure,
with psutil, every process the runtime leaves per container:

* the **monitor** (mc-monitor, a small C program: it waits for PID 1 and keeps the logs),
* **port proxies**, if the container publishes ports (none here: ``--network none``),
* and, reported apart, the container's own **PID 1** (what the user asked to run).

Which memory figure? RSS counts every resident page a process maps, shared or not, so
100 processes sharing libc each "have" libc. **USS** (unique set size) counts only the
pages no other process maps: what killing the process would give back. **PSS**
(proportional set size) splits each shared page evenly among its users, so PSS summed
over all processes is the real total. Both come from /proc/PID/smaps_rollup (proc(5)),
which psutil reads for ``memory_full_info()``.

The target (issue 5): at most 3 MiB USS per container for what the runtime adds.

    .venv/bin/python bench/density.py [--counts 1,5,20] [--root DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1024 * 1024
TARGET_USS = 3 * MIB


def cli_path() -> str:
    path = Path(sys.executable).parent / "minicontainer"
    return str(path) if path.exists() else (shutil.which("minicontainer") or "minicontainer")


def mc(root: Path, *args: str) -> str:
    res = subprocess.run([cli_path(), "--root", str(root), *args], capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"minicontainer {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def processes_of(root: Path, cid: str) -> dict[str, list[int]]:
    """{'monitor': [...], 'proxy': [...], 'pid1': [...]} found from the host's process table."""
    import psutil
    state = json.loads(mc(root, "inspect", cid))[0]["State"]
    pid1 = state["Pid"]
    out = {"monitor": [], "proxy": [], "pid1": [pid1]}
    try:
        parent = psutil.Process(pid1).ppid()
        out["monitor"].append(parent)
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info["cmdline"] or []
        if "--container" in argv and cid in argv and any(a.endswith("/proxy.py") for a in argv):
            out["proxy"].append(proc.info["pid"])
    return out


def memory(pid: int) -> tuple[int, int]:
    import psutil
    info = psutil.Process(pid).memory_full_info()
    return info.uss, info.pss


def measure(root: Path, k: int) -> dict:
    ids = []
    try:
        for _ in range(k):
            ids.append(mc(root, "run", "-d", "--network", "none", "busybox", "sleep", "600").strip())
        per = []
        for cid in ids:
            procs = processes_of(root, cid)
            runtime_uss = runtime_pss = 0
            for kind in ("monitor", "proxy"):
                for pid in procs[kind]:
                    uss, pss = memory(pid)
                    runtime_uss += uss
                    runtime_pss += pss
            pid1_uss, pid1_pss = memory(procs["pid1"][0])
            per.append({"runtime_uss": runtime_uss, "runtime_pss": runtime_pss, "pid1_uss": pid1_uss,
                        "pid1_pss": pid1_pss, "monitors": len(procs["monitor"]), "proxies": len(procs["proxy"])})
        return {"k": k, "containers": per,
                "monitor_uss_median": statistics.median(p["runtime_uss"] for p in per),
                "monitor_pss_median": statistics.median(p["runtime_pss"] for p in per),
                "monitor_uss_max": max(p["runtime_uss"] for p in per),
                "pid1_uss_median": statistics.median(p["pid1_uss"] for p in per),
                "pid1_pss_median": statistics.median(p["pid1_pss"] for p in per)}
    finally:
        for cid in ids:
            subprocess.run([cli_path(), "--root", str(root), "rm", "-f", cid], capture_output=True, timeout=60)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", default="1,5,20", help="comma-separated numbers of containers")
    p.add_argument("--root", help="state root holding the busybox image (default: a temporary one)")
    p.add_argument("--json", action="store_true", help="print the raw measurements as JSON")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("density: needs root (namespaces, cgroups)", file=sys.stderr)
        return 2
    counts = [int(x) for x in args.counts.split(",") if x]
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="mc-density-"))
    try:
        results = [measure(root, k) for k in counts]
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{'k':>3}  {'monitor USS (median/max)':>26}  {'monitor PSS':>11}  {'PID 1 USS':>9}  {'PID 1 PSS':>9}  target")
    met = True
    for r in results:
        ok = r["monitor_uss_max"] <= TARGET_USS
        met &= ok
        print(f"{r['k']:>3}  {r['monitor_uss_median'] / 1024:>10.0f} KiB / {r['monitor_uss_max'] / 1024:>6.0f} KiB"
              f"  {r['monitor_pss_median'] / 1024:>7.0f} KiB  {r['pid1_uss_median'] / 1024:>5.0f} KiB"
              f"  {r['pid1_pss_median'] / 1024:>5.0f} KiB  {'met' if ok else 'MISSED'} (<= 3 MiB USS)")
    print(f"per-container runtime overhead target (<= 3 MiB USS): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

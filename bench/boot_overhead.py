"""How much does the harness itself cost? Harness time to the init marker vs the same QEMU argv
run raw from a shell, paired and alternating in one run (so drift on a shared machine hits both).

    .venv/bin/python bench/boot_overhead.py [--pairs N] [--machine pc] [--accel auto]

"harness" is vmcompare.qemu.QemuMachine (selectors, per-line monotonic stamps, psutil sampling
at the marker); "raw" is `sh -c 'exec qemu ...'` read with a bare readline loop. Target: <= 1.05x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minicontainer.paths import project_build_dir  # noqa: E402
from vmcompare import initramfs, qemu  # noqa: E402
from vmcompare.guestkernel import find_kernel  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--machine", choices=qemu.MACHINES, default="pc")
    ap.add_argument("--accel", choices=qemu.ACCELS, default="auto")
    ap.add_argument("--kernel")
    args = ap.parse_args()

    guest = find_kernel(args.kernel)
    accel, why = qemu.resolve_accel(args.accel)
    initrd = initramfs.build_cached(initramfs.InitSpec(), project_build_dir() / "guest" / "initramfs")
    argv = qemu.build_argv(qemu.VMConfig(kernel=guest.vmlinuz, initrd=initrd, machine=args.machine, accel=accel))

    harness, raw, skipped = [], [], 0
    for i in range(args.pairs):
        order = ("harness", "raw") if i % 2 == 0 else ("raw", "harness")   # alternate who goes first
        pair = {}
        for who in order:
            if who == "harness":
                with qemu.QemuMachine(argv) as vm:
                    try:
                        rec = vm.wait(timeout=60, silence=10)
                        pair[who] = rec.t_init - rec.t_exec if rec.t_init else None
                    except qemu.BootTimeout:
                        pair[who] = None
            else:
                pair[who] = qemu.time_raw_boot(argv, timeout=60)[0]
        if None in pair.values():       # a hung boot in either: drop the pair, never time it
            skipped += 1
            continue
        harness.append(pair["harness"])
        raw.append(pair["raw"])
        print(f"pair {i + 1}: harness {pair['harness'] * 1000:.0f} ms, raw {pair['raw'] * 1000:.0f} ms",
              file=sys.stderr)
    if not raw:
        print("no complete pair", file=sys.stderr)
        return 1
    ratios = [h / r for h, r in zip(harness, raw)]
    print(f"accelerator: {accel} ({why}); machine {args.machine}; guest {guest.label}; "
          f"{len(raw)} pairs ({skipped} dropped for a hung boot)")
    print(f"time to init marker: harness median {statistics.median(harness) * 1000:.0f} ms, "
          f"raw median {statistics.median(raw) * 1000:.0f} ms")
    print(f"harness/raw = {statistics.median(ratios):.2f}x (median of paired ratios; target <= 1.05x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

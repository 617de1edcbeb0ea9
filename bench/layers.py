"""Benchmark: unpacking a ~200 MB layer with minicontainer's confined extractor vs GNU tar.

Both unpack the same uncompressed layer tar, in the same run, alternating, several
times; the page cache is warm for both (the tar is read once before timing). Our side
also computes the layer's sha256 (the diff_id check) that tar does not do, so the ratio
is an upper bound on the cost of safety. Target from issue 4: ratio <= 1.25.

    .venv/bin/python bench/layers.py [--size-mb 200] [--runs 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minicontainer.images.digest import HashingWriter
from minicontainer.images.extract import unpack_file
from minicontainer.images.tarwriter import write_layer


def make_tree(root: Path, size_mb: int, seed: int = 4) -> int:
    """A layer-like tree: many small files in nested dirs plus a few big ones (seeded)."""
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    total = n = 0
    blob = rng.randbytes(4 << 20)
    while total < target:
        d = root / f"usr/lib/pkg{n // 50:03d}/sub{n % 7}"
        d.mkdir(parents=True, exist_ok=True)
        size = rng.choice([200, 1500, 8000, 30_000, 120_000]) if n % 100 else 3_000_000
        off = rng.randrange(0, len(blob) - min(size, len(blob) - 1))
        data = (blob[off:off + size] * (size // len(blob) + 1))[:size]
        (d / f"file{n}.so").write_bytes(data)
        if n % 20 == 0:
            os.symlink(f"file{n}.so", d / f"link{n}")
        total += size
        n += 1
    return n


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one)")
    args = ap.parse_args(argv)
    if shutil.which("tar") is None:
        print("GNU tar not found", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-layers-", dir=args.workdir))
    try:
        src = work / "src"
        src.mkdir()
        files = make_tree(src, args.size_mb)
        layer = work / "layer.tar"
        with open(layer, "wb") as f:
            write_layer(src, HashingWriter(f), translate_overlay=False)
        shutil.rmtree(src)
        with open(layer, "rb") as f:          # warm the page cache for both contenders
            while f.read(1 << 24):
                pass
        print(f"layer: {layer.stat().st_size / 1e6:.0f} MB, {files} files (+ symlinks and dirs)")
        ours, tars = [], []
        for i in range(args.runs):
            order = [("tar", tars), ("ours", ours)] if i % 2 else [("ours", ours), ("tar", tars)]
            for name, bucket in order:
                dest = work / f"out-{name}"
                if name == "tar":
                    dest.mkdir()
                    t = timed(lambda: subprocess.run(["tar", "-xf", str(layer), "-C", str(dest)], check=True))
                else:
                    t = timed(lambda: unpack_file(layer, dest, None))
                bucket.append(t)
                shutil.rmtree(dest)
        mo, mt = statistics.median(ours), statistics.median(tars)
        print(f"GNU tar -x      median {mt * 1000:7.0f} ms  runs {[round(x * 1000) for x in tars]}")
        print(f"minicontainer   median {mo * 1000:7.0f} ms  runs {[round(x * 1000) for x in ours]}"
              " (includes the sha256 of the layer)")
        ratio = mo / mt
        print(f"ratio minicontainer / tar = {ratio:.2f}  (target <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

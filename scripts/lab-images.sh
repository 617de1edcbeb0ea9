#!/usr/bin/env bash
# The course's published images (`make images`, run by `make lab` and `make test`):
#
# 1. debian:bookworm-slim made from Debian's packages by mmdebstrap (minicontainer/images/debian.py):
#    built once into build/images/ (named by its recipe hash; its apt sources are the host's, read
#    now), then put into the lab's state root with busybox. A second run rebuilds nothing.
# 2. both pushed to the lab registry (build/registry, 127.0.0.1 only) as library/busybox:latest and
#    library/debian:bookworm-slim. A registry this script had to start is stopped again at the end;
#    its storage keeps the images for the next `minicontainer registry start`. A push sends only the
#    blobs the registry lacks, so a repeated run uploads nothing.
#
# Usage: scripts/lab-images.sh VENV LAB_ROOT REGISTRY_DIR [PORT]
set -euo pipefail

venv="$1"; root="$2"; regdir="$3"; port="${4:-5000}"
mc=("$venv/bin/minicontainer" --root "$root")

"$venv/bin/python" -m minicontainer.images.debian --root "$root"

command -v docker-registry >/dev/null || {
    echo "lab images: docker-registry is not installed (scripts/install-system-deps.sh installs it)" >&2
    exit 1
}
started=""
if ! "${mc[@]}" registry status --dir "$regdir" >/dev/null 2>&1; then
    "${mc[@]}" registry start --dir "$regdir" --port "$port" >/dev/null
    started=1
fi
stop() { [[ -z "$started" ]] || "${mc[@]}" registry stop --dir "$regdir" >/dev/null; }
trap stop EXIT
addr="$("${mc[@]}" registry status --dir "$regdir" | sed -n 's/^running at \([^ ]*\).*/\1/p')"
[[ -n "$addr" ]] || { echo "lab images: cannot tell where the lab registry listens" >&2; exit 1; }

for pair in "busybox:latest library/busybox:latest" "debian:bookworm-slim library/debian:bookworm-slim"; do
    read -r local remote <<<"$pair"
    "${mc[@]}" tag "$local" "$addr/$remote"
    "${mc[@]}" push -q "$addr/$remote"
    echo "lab images: $local -> $addr/$remote"
done

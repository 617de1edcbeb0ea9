#!/usr/bin/env bash
# The docker CLI (client only) from Debian's docker.io package, for driving `minicontainer engine`.
#
# `apt-get download docker.io` fetches the .deb into a temporary folder (no root needed, nothing is
# installed), `dpkg -x` unpacks it there, and only usr/bin/docker is kept, as build/docker-cli/docker.
# No daemon is installed or started: dockerd, containerd and their services never leave the
# temporary folder. Idempotent: a second run finds the binary and does nothing.
#
# Both this CLI (Debian 12: 20.10.24, Engine API 1.41) and a newer one on PATH, where there is one,
# are exercised by the engine tests.
set -euo pipefail

out="${1:-build/docker-cli}"
if [[ -x "$out/docker" ]]; then
    exit 0
fi
command -v apt-get >/dev/null || { echo "fetch-docker-cli: no apt-get here: install a docker CLI yourself" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download -q docker.io >/dev/null 2>apt.err; then
    # the package lists may be missing on a fresh machine: refresh them once (root only) and retry
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq
        apt-get download -q docker.io >/dev/null
    else
        cat apt.err >&2
        exit 1
    fi
fi
deb=(docker.io_*.deb)
dpkg -x "${deb[0]}" unpacked
cd - >/dev/null
mkdir -p "$out"
install -m 0755 "$tmp/unpacked/usr/bin/docker" "$out/docker.partial"
mv "$out/docker.partial" "$out/docker"
echo "docker CLI $("$out/docker" --version | sed 's/^Docker version //') in $out/docker"

#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the lab needs, and only those that are missing.
# Idempotent: when everything is present it neither updates the package lists nor downloads.
set -euo pipefail

PACKAGES=(
  python3-venv        # the lab's .venv
  qemu-system-x86     # vmcompare boots real guests
  busybox-static      # the base image and the guest initramfs
  iproute2            # ip(8), for readers who want to look by hand
  iputils-ping        # ping between containers in the networking chapter
  runc crun           # the reference runtimes bench/start_latency.py compares against
  util-linux          # unshare(1), nsenter(1), findmnt(1)
  gcc libc6-dev       # static probes compiled by the escape suite and chapter 07 (cc -static)
  passwd              # useradd/userdel: the rootless tests and chapter 07 create an ordinary user
  uidmap              # newuidmap/newgidmap: a rootless container maps the user's /etc/subuid range
  chromium chromium-driver  # tests/browser: JupyterLab in headless Chromium (never Playwright's download)
  nodejs              # tests/hub: configurable-http-proxy (from npm) runs on Node.js
  nftables            # nft(8): outbound NAT for bridge networks (Debian leaves nftables.service disabled)
  mmdebstrap          # builds the debian:bookworm-slim image from Debian's packages (make images)
  docker-registry     # the lab registry (CNCF distribution 2.8), run by `minicontainer registry start`, never as a service
  skopeo podman       # interop: clients no one here wrote copy/pull/run what minicontainer pushed
  containerd          # tests/privileged/test_engines.py: ctr run --runc-binary minicontainer-runc (its own daemon per test)
)

# Debian's docker-registry enables a service listening on :5000 on every interface. The lab never
# uses it (minicontainer runs its own, bound to 127.0.0.1): stop it and mask it wherever systemd runs.
quiet_registry_service() {
  if dpkg-query -W -f='${Status}' docker-registry 2>/dev/null | grep -q 'install ok installed' \
     && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    ${SUDO:-} systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
    ${SUDO:-} systemctl mask docker-registry.service >/dev/null 2>&1 || true
  fi
  # containerd's package enables containerd.service; the tests start their own daemon per test
  if dpkg-query -W -f='${Status}' containerd 2>/dev/null | grep -q 'install ok installed' \
     && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    ${SUDO:-} systemctl disable --now containerd.service >/dev/null 2>&1 || true
    ${SUDO:-} systemctl mask containerd.service >/dev/null 2>&1 || true
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm: Debian's package, unless the Node.js already installed brought its own (NodeSource does)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  quiet_registry_service
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
quiet_registry_service

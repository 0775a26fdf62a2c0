#!/usr/bin/env bash
# Build the local stand-in for python:3.11-slim on machines that reach no container registry:
#   evalcompose/base-python:bookworm = debootstrap minbase bookworm + python3 (3.11) + ca-certificates.
# Skipped when the image already exists. Real users get python:3.11-slim instead
# (see composer/images.py: base_image(), EVALCOMPOSE_BASE_IMAGE).
#
#   scripts/build-base-image.sh [IMAGE]      (default evalcompose/base-python:bookworm)
set -euo pipefail

IMAGE="${1:-${EVALCOMPOSE_LOCAL_BASE_IMAGE:-evalcompose/base-python:bookworm}}"
SUITE="${DEBOOTSTRAP_SUITE:-bookworm}"
MIRROR="${DEBOOTSTRAP_MIRROR:-}"   # empty: debootstrap's default Debian mirror

t0=$(date +%s.%N)
took() { python3 -c 'import sys,time; print("%.1fs" % (time.time()-float(sys.argv[1])))' "$1"; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "[build-base-image] $IMAGE already present: skipped ($(took "$t0"))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! command -v debootstrap >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  echo "[build-base-image] installed debootstrap ($(took "$t0"))"
fi

rootfs=$(mktemp -d /tmp/evalcompose-rootfs.XXXXXX)
trap '$SUDO rm -rf "$rootfs"' EXIT

t=$(date +%s.%N)
# shellcheck disable=SC2086
$SUDO debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$rootfs" $MIRROR \
  >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
# Smaller image: drop apt lists and caches (apt-get update still works inside).
$SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
echo "[build-base-image] debootstrap $SUITE ($(took "$t"))"
rm -f "$rootfs.log"

t=$(date +%s.%N)
$SUDO tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$IMAGE" >/dev/null
echo "[build-base-image] docker import -> $IMAGE ($(took "$t")); total $(took "$t0")"

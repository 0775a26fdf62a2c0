#!/usr/bin/env bash
# Build evalcompose's built-in images (evalcompose/harness-builtin, evalcompose/model-standin).
#
#   scripts/build-images.sh [NAME...]        (names: harness standin; default: all)
#
# Base image: $EVALCOMPOSE_BASE_IMAGE if set, else the first of
# `python -m composer.images base-candidates` present locally (python:3.11-slim, then
# evalcompose/base-python:bookworm from scripts/build-base-image.sh). Python wheels come
# from a host-side wheelhouse (composer/images.py), so builds need no network.
# Uses the legacy builder: the buildx plugin is not installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3

took() { python3 -c 'import sys,time; print("%.1fs" % (time.time()-float(sys.argv[1])))' "$1"; }

base=""
while read -r cand; do
  if docker image inspect "$cand" >/dev/null 2>&1; then base="$cand"; break; fi
done < <("$PY" -m composer.images base-candidates)
if [ -z "$base" ]; then
  echo "[build-images] no base image present (tried: $("$PY" -m composer.images base-candidates | tr '\n' ' '))" >&2
  echo "[build-images] without a registry, run scripts/build-base-image.sh first" >&2
  exit 1
fi

t=$(date +%s.%N)
ctxroot=$(mktemp -d /tmp/evalcompose-build.XXXXXX)
trap 'rm -rf "$ctxroot"' EXIT
mapfile -t lines < <("$PY" -m composer.images build-contexts --dest "$ctxroot" "$@")
if [ "${#lines[@]}" -eq 0 ]; then echo "[build-images] preparing build contexts failed" >&2; exit 1; fi
echo "[build-images] build contexts ready ($(took "$t")), base image $base"

for line in "${lines[@]}"; do
  tag="${line%%$'\t'*}"; ctx="${line#*$'\t'}"
  t=$(date +%s.%N)
  if ! DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base" \
        --label "org.evalcompose.base-image=$base" -t "$tag" "$ctx" >"$ctxroot/build.log" 2>&1; then
    cat "$ctxroot/build.log" >&2
    echo "[build-images] docker build of $tag failed" >&2
    exit 1
  fi
  echo "[build-images] built $tag ($(took "$t"))"
done

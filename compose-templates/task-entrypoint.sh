#!/bin/sh
# evalcompose task entrypoint (mounted read-only at /evalcompose/task.sh in every task container).
# 1. Compose secrets (files in /run/secrets) become the environment variables the harness reads;
#    their names are listed in EVALCOMPOSE_SECRETS, their values never touch the run folder.
# 2. The config's pre_cmd / post_cmd (if any) run before / after the harness, as the launcher does.
# 3. The harness runs under `init: true`, so SIGTERM from `compose stop` / `evalcompose kill`
#    reaches nemo-evaluator, which writes its interrupted marker and exits.
# 4. Its output goes to the container log AND to /evalcompose/logs/stdout.log, with nobody following.
set -eu
for name in ${EVALCOMPOSE_SECRETS:-}; do
  if [ -r "/run/secrets/$name" ]; then
    export "$name=$(cat "/run/secrets/$name")"
  fi
done
if command -v nemo-evaluator >/dev/null 2>&1; then
  set -- nemo-evaluator run_eval --run_config /evalcompose/run_config.yml
else
  set -- eval-factory run_eval --run_config /evalcompose/run_config.yml
fi
log=/evalcompose/logs/stdout.log
pipe="$(mktemp -u /tmp/evalcompose-log.XXXXXX)"
mkfifo "$pipe"
tee -a "$log" <"$pipe" &
exec >"$pipe" 2>&1
if [ -r /evalcompose/pre_cmd.sh ]; then
  set +u; . /evalcompose/pre_cmd.sh; set -u
fi
if [ ! -r /evalcompose/post_cmd.sh ]; then
  exec "$@"
fi
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
code=0
wait "$child" || code=$?
while kill -0 "$child" 2>/dev/null; do wait "$child" || code=$?; done
set +u; . /evalcompose/post_cmd.sh || true
exit "$code"

#!/bin/sh
# evalcompose task entrypoint (mounted read-only at /evalcompose/task.sh in every task container).
# 0. With max_parallel (EVALCOMPOSE_SLOTS=N), the task first takes one of N slots: a kernel flock on
#    /evalcompose/slots/slot.K, a tmpfs volume the project's task containers share. The lock is held
#    by the harness's own process (inherited fd 9), so a task that ends, crashes or is killed frees
#    its slot. Slots go out in config order: EVALCOMPOSE_TICKET is the task's place in line, the
#    line's state lives in /evalcompose/slots/$EVALCOMPOSE_GENERATION/. While waiting, the
#    container runs but /evalcompose/logs/slot says "waiting" (status: PENDING).
# 1. Compose secrets (files in /run/secrets) become the environment variables the harness reads;
#    their names are listed in EVALCOMPOSE_SECRETS, their values never touch the run folder.
# 2. The config's pre_cmd / post_cmd (if any) run before / after the harness, as the launcher does.
# 3. The harness runs under `init: true`, so SIGTERM from `compose stop` / `evalcompose kill`
#    reaches nemo-evaluator, which writes its interrupted marker and exits.
# 4. Its output goes to the container log AND to /evalcompose/logs/stdout.log, with nobody following.
set -eu
state=/evalcompose/logs/slot
slots=/evalcompose/slots

now() {
  t=$(date +%s.%N 2>/dev/null || date +%s)
  case $t in *N*) t=$(date +%s) ;; esac
  echo "$t"
}

# lock FD [-n|-u]: flock(2) on the file open on FD (the flock tool, else python3's fcntl).
lock() {
  if command -v flock >/dev/null 2>&1; then
    flock ${2:-} "$1"
  else
    python3 -c 'import fcntl, sys
op = {"-n": fcntl.LOCK_EX | fcntl.LOCK_NB, "-u": fcntl.LOCK_UN}.get(sys.argv[2], fcntl.LOCK_EX)
try:
    fcntl.flock(int(sys.argv[1]), op)
except BlockingIOError:
    sys.exit(1)' "$1" "${2:-}"
  fi
}

# take_slot: wait until a slot is free and it is this task's turn; leaves the slot locked on fd 9.
take_slot() {
  n=$EVALCOMPOSE_SLOTS
  me=${EVALCOMPOSE_TICKET:-0}
  grace=${EVALCOMPOSE_SLOT_GRACE:-30}
  gen="$slots/${EVALCOMPOSE_GENERATION:-run}"
  mask=$(umask)
  umask 000   # every task of the run (possibly another uid on resume) opens these files
  mkdir -p "$gen"
  exec 8>>"$slots/queue.lock"
  lock 8
  exec 7>>"$gen/arrived.$me"   # held while waiting: a waiter that dies leaves it unlocked
  lock 7 -n
  if [ ! -s "$gen/turn" ]; then echo 0 >"$gen/turn"; date +%s >"$gen/since"; fi
  lock 8 -u
  got=
  while [ -z "$got" ]; do
    lock 8
    read -r turn <"$gen/turn"
    read -r since <"$gen/since"
    expired=$(( $(date +%s) - since >= grace ))
    # Tickets ahead of this one that will not come: left while waiting, or never arrived in time.
    while [ "$turn" -lt "$me" ]; do
      if [ -e "$gen/arrived.$turn" ]; then
        exec 6>>"$gen/arrived.$turn"
        if lock 6 -n; then gone=1; else gone=0; fi
        exec 6>&-
        [ "$gone" = 1 ] || break
      elif [ "$expired" != 1 ]; then
        break
      fi
      turn=$((turn + 1))
      echo "$turn" >"$gen/turn"
      date +%s >"$gen/since"
    done
    if [ "$turn" -ge "$me" ]; then   # this task's turn (or it came late): any free slot
      k=0
      while [ "$k" -lt "$n" ]; do
        exec 9>>"$slots/slot.$k"
        if lock 9 -n; then got=$k; break; fi
        exec 9>&-
        k=$((k + 1))
      done
      if [ -n "$got" ] && [ "$turn" -eq "$me" ]; then
        echo $((me + 1)) >"$gen/turn"
        date +%s >"$gen/since"
      fi
    fi
    lock 8 -u
    if [ -z "$got" ]; then
      if [ $((me - turn)) -gt "$n" ]; then sleep 2; else sleep 0.3 2>/dev/null || sleep 1; fi
    fi
  done
  exec 7>&- 8>&-
  umask "$mask"
  echo "started $(now) slot $got" >"$state"
}

echo "waiting $(now)" >"$state"
if [ -n "${EVALCOMPOSE_SLOTS:-}" ] && [ -d "$slots" ]; then
  if command -v flock >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1; then
    take_slot
  else
    echo "evalcompose: neither flock nor python3 in this image: max_parallel is not enforced" >&2
    echo "started $(now)" >"$state"
  fi
else
  echo "started $(now)" >"$state"
fi
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

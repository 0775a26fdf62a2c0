#!/bin/sh
# evalcompose model-server entrypoint (mounted read-only at /evalcompose/model.sh in the model
# container; its command is the server's command line as one string, as the launcher runs it).
# Compose secrets (files in /run/secrets) become the environment variables the server reads
# (HF_TOKEN, NGC_API_KEY, host: variables); their names are listed in EVALCOMPOSE_SECRETS, their
# values never touch the run folder or `docker inspect`. Then the command line runs under
# /bin/sh -c, so the server image's own entrypoint scripts work as with `--entrypoint ''`.
set -eu
for name in ${EVALCOMPOSE_SECRETS:-}; do
  if [ -r "/run/secrets/$name" ]; then
    export "$name=$(cat "/run/secrets/$name")"
  fi
done
unset EVALCOMPOSE_SECRETS
exec /bin/sh -c "$1"

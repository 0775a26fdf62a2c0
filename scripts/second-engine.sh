#!/usr/bin/env bash
# A second Docker engine on this machine, for the multi-engine tests (issue 12). Root only.
#
#   scripts/second-engine.sh up NAME      start it; prints KEY=VALUE lines (UNIX_URL, SSH_URL, SSH_PATH)
#   scripts/second-engine.sh crash NAME   SIGKILL it and its containers, as if the machine died
#   scripts/second-engine.sh down NAME    stop it and remove everything it had
#
# The engine runs in its own network namespace (ip netns NAME: its own loopback, bridge and
# iptables) and its own mount namespace in which /tmp, /work, /home, /root and /etc/docker (the
# main daemon's daemon.json and key.json: its engine id) are empty tmpfs:
# it has no view of run folders (which live there) and starts with no images. It has its own
# data root (/var/lib/NAME), exec root, pid file, cgroup parent (/NAME) and socket
# (/run/NAME/docker.sock, the unix:// form). An sshd in the same namespaces listens on the
# namespace's 127.0.0.1:22 (the ssh:// form: ssh://root@NAME); the client reaches it through
# `ProxyCommand nsenter --net=... nc 127.0.0.1 22`, with its own keys and config in /run/NAME/ssh,
# via an `ssh` wrapper in /run/NAME/bin (put it first on PATH: docker runs plain `ssh`). The far
# side runs `docker system dial-stdio` with DOCKER_HOST set to the node's socket (sshd SetEnv).
# Nothing here touches the main engine, its socket, its data or the user's ~/.ssh. No traffic
# leaves the machine: loopback inside the namespace and unix sockets only.
set -euo pipefail

cmd=${1:?usage: second-engine.sh up|crash|down NAME}
name=${2:?usage: second-engine.sh up|crash|down NAME}
case $name in *[!a-z0-9-]*|"") echo "NAME: lower-case letters, digits and - only" >&2; exit 2 ;; esac
root=/run/$name
data=/var/lib/$name
sock=$root/docker.sock
mntns=$root/ns/mnt
netns=/var/run/netns/$name
[ "$(id -u)" = 0 ] || { echo "second-engine.sh needs root (namespaces, a dockerd)" >&2; exit 3; }

log() { echo "[second-engine $name] $*" >&2; }

install_tools() {
  local want=()
  command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || want+=(openssh-server)
  command -v nc >/dev/null 2>&1 || want+=(netcat-openbsd)
  [ ${#want[@]} = 0 ] && return
  log "installing ${want[*]} (Debian packages; their services are not started)"
  local guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep apt from starting an sshd on the host
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
}

in_node() { nsenter --mount="$mntns" --net="$netns" "$@"; }

up() {
  install_tools
  if [ -S "$sock" ] && docker -H "unix://$sock" version >/dev/null 2>&1; then
    log "already running"
  else
    mkdir -p "$root/ns" "$root/exec" "$root/bin" "$root/ssh" "$data"
    ip netns add "$name" 2>/dev/null || true
    ip netns exec "$name" ip link set lo up
    if ! mountpoint -q "$root/ns"; then
      mount --bind "$root/ns" "$root/ns" && mount --make-private "$root/ns"
    fi
    if [ ! -e "$mntns" ] || ! mountpoint -q "$mntns"; then
      touch "$mntns"
      unshare --mount="$mntns" --propagation private sh -c '
        for d in /tmp /work /home /root /run/containerd /etc/docker; do
          [ -d "$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$d"
        done
        chmod 1777 /tmp'
    fi
    # NOT `ip netns exec ... dockerd`: that remounts /sys and dockerd stops ("Devices cgroup isn't mounted")
    setsid nsenter --mount="$mntns" --net="$netns" dockerd --data-root "$data" --exec-root "$root/exec" \
      --pidfile "$root/docker.pid" -H "unix://$sock" --cgroup-parent "/$name" \
      >"$root/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
      docker -H "unix://$sock" version >/dev/null 2>&1 && break
      sleep 0.5
    done
    docker -H "unix://$sock" version >/dev/null 2>&1 || { log "dockerd did not answer:"; tail -5 "$root/dockerd.log" >&2; exit 1; }
  fi
  start_sshd
  echo "UNIX_URL=unix://$sock"
  echo "SSH_URL=ssh://root@$name"
  echo "SSH_PATH=$root/bin"
}

start_sshd() {
  local ssh=$root/ssh
  if [ -f "$ssh/sshd.pid" ] && kill -0 "$(cat "$ssh/sshd.pid")" 2>/dev/null; then return; fi
  [ -f "$ssh/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$ssh/host_key"
  [ -f "$ssh/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$ssh/client_key"
  cp "$ssh/client_key.pub" "$ssh/authorized_keys"
  echo "$name $(cat "$ssh/host_key.pub")" >"$ssh/known_hosts"
  cat >"$ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1:22
HostKey $ssh/host_key
PidFile $ssh/sshd.pid
AuthorizedKeysFile $ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv DOCKER_HOST=unix://$sock
MaxStartups 100:30:200
MaxSessions 100
EOF
  cat >"$ssh/ssh_config" <<EOF
Host $name
  HostName $name
  User root
  IdentityFile $ssh/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $ssh/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ProxyCommand nsenter --net=$netns nc 127.0.0.1 22
EOF
  printf '#!/bin/sh\n# ssh with the test engine %s'"'"'s own config (docker runs plain `ssh`)\nexec /usr/bin/ssh -F %s "$@"\n' \
    "$name" "$ssh/ssh_config" >"$root/bin/ssh"
  chmod +x "$root/bin/ssh"
  mkdir -p /run/sshd
  in_node /usr/sbin/sshd -f "$ssh/sshd_config"
  for _ in $(seq 1 40); do
    "$root/bin/ssh" "$name" true 2>/dev/null && return
    sleep 0.25
  done
  log "sshd does not answer"; exit 1
}

kill_pidfile() {  # kill_pidfile FILE SIGNAL [WAIT_S]
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill "-$2" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 $((${3:-0} * 4))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
}

node_pids() {  # every process in the node's mount namespace (dockerd, its containerd, shims, sshd)
  local ino p
  ino=$(stat -L -c %i "$mntns" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$p/ns/mnt" 2>/dev/null)" = "$ino" ] && echo "${p#/proc/}"
  done
  return 0
}

container_pids() {
  local f
  for f in $(find "/sys/fs/cgroup/$name" /sys/fs/cgroup/*/"$name" -name cgroup.procs 2>/dev/null); do cat "$f"; done
}

crash() {
  log "SIGKILL: dockerd, containerd, shims and every container"
  # shellcheck disable=SC2046
  kill -KILL $(node_pids) $(container_pids) 2>/dev/null || true
  rm -f "$sock"
}

down() {
  kill_pidfile "$root/ssh/sshd.pid" TERM 5
  kill_pidfile "$root/docker.pid" TERM 20   # dockerd stops its containers and its containerd
  # shellcheck disable=SC2046
  kill -KILL $(node_pids) $(container_pids) 2>/dev/null || true
  if [ -e "$mntns" ]; then umount "$mntns" 2>/dev/null || umount -l "$mntns" 2>/dev/null || true; fi
  if mountpoint -q "$root/ns" 2>/dev/null; then umount "$root/ns" 2>/dev/null || umount -l "$root/ns" || true; fi
  ip netns del "$name" 2>/dev/null || true
  rm -rf "$data" "$root"
  find "/sys/fs/cgroup/$name" /sys/fs/cgroup/*/"$name" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  log "down"
}

case $cmd in
  up) up ;;
  crash) crash ;;
  down) down ;;
  *) echo "usage: second-engine.sh up|crash|down NAME" >&2; exit 2 ;;
esac

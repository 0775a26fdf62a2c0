"""``execution.extra_docker_args``: the ``docker run`` flags users write, as compose settings.

The launcher splices this string into ``docker run``. evalcompose translates every flag that has
a Compose equivalent (one note per flag on dry run) and refuses, by name, one that has none
(never splicing raw text into a file that others rerun):

    --network NAME | --net NAME   join an existing network (``host``: host networking)
    --gpus all|N|device=...       GPU access for every task container
    -e/--env KEY=VALUE | KEY      an environment variable (a bare KEY comes from the host, as a secret)
    -v/--volume SRC:DST[:ro]      a bind mount or named volume
    and the service keys of :data:`SCALARS`, :data:`LISTS`, :data:`MAPPINGS`, :data:`SWITCHES`
    (``--shm-size``, ``--privileged``, ``--cap-add``, ``--device``, ``--ipc``, ``--ulimit``, ...)

``--rm``, ``-d``, ``-i``/``-t`` and ``--name`` have no meaning for a compose service (compose
names, removes and detaches containers itself): they are accepted with a note.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

KEY = "execution.extra_docker_args"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL", re.IGNORECASE)
_SPECIAL = {"--network": "network", "--net": "network", "--gpus": "gpus", "-e": "env", "--env": "env",
            "-v": "volume", "--volume": "volume"}
# flag -> compose service key, one value
SCALARS = {"--shm-size": "shm_size", "--ipc": "ipc", "--pid": "pid", "--runtime": "runtime", "--memory": "mem_limit",
           "-m": "mem_limit", "--memory-swap": "memswap_limit", "--memory-reservation": "mem_reservation",
           "--cpus": "cpus", "--cpuset-cpus": "cpuset", "--cpu-shares": "cpu_shares", "-c": "cpu_shares",
           "--workdir": "working_dir", "-w": "working_dir", "--user": "user", "-u": "user",
           "--entrypoint": "entrypoint", "--hostname": "hostname", "-h": "hostname", "--platform": "platform",
           "--stop-signal": "stop_signal", "--pids-limit": "pids_limit", "--oom-score-adj": "oom_score_adj",
           "--userns": "userns_mode", "--cgroupns": "cgroup", "--isolation": "isolation", "--mac-address": "mac_address",
           "--domainname": "domainname", "--stop-timeout": "stop_grace_period", "--log-driver": "logging"}
# flag -> compose service key, repeatable (a list)
LISTS = {"--cap-add": "cap_add", "--cap-drop": "cap_drop", "--device": "devices", "--add-host": "extra_hosts",
         "--tmpfs": "tmpfs", "--security-opt": "security_opt", "--env-file": "env_file", "--dns": "dns",
         "--dns-search": "dns_search", "--dns-option": "dns_opt", "--group-add": "group_add", "-p": "ports",
         "--publish": "ports", "--expose": "expose"}
# flag KEY=VALUE -> compose service mapping
MAPPINGS = {"--label": "labels", "-l": "labels", "--sysctl": "sysctls", "--ulimit": "ulimits",
            "--log-opt": "logging"}
# flags without a value -> compose service key: true
SWITCHES = {"--privileged": "privileged", "--init": "init", "--read-only": "read_only", "--tty": "tty", "-t": "tty",
            "--interactive": "stdin_open", "-i": "stdin_open", "--oom-kill-disable": "oom_kill_disable"}
IGNORED = {"--rm": "compose removes containers with down", "-d": "compose detaches itself",
           "--detach": "compose detaches itself", "-it": "a task needs no terminal", "-ti": "a task needs no terminal"}
IGNORED_WITH_VALUE = {"--name": "compose names the containers", "--restart": "tasks never restart",
                      "--pull": "images are pulled or built before up"}
_INTEGERS = {"cpu_shares", "pids_limit", "oom_score_adj"}


@dataclass
class DockerExtras:
    """What the flags asked for."""

    network: str | None = None
    gpus: str | None = None
    shm_size: str | None = None
    env: dict[str, str] = field(default_factory=dict)       # literal values
    host_env: list[str] = field(default_factory=list)       # names read from the host
    volumes: list[str] = field(default_factory=list)
    service: dict[str, Any] = field(default_factory=dict)   # other compose service keys for task services
    notes: list[str] = field(default_factory=list)


def parse_docker_args(text: str) -> DockerExtras:
    """Parse the flag string; :class:`ConfigError` naming the first flag without a compose equivalent."""
    try:
        words = shlex.split(text or "")
    except ValueError:
        raise ConfigError(KEY, "unbalanced quotes", hint="quote values as in a shell") from None
    out = DockerExtras()
    i = 0
    while i < len(words):
        flag, eq, value = words[i].partition("=")
        i += 1
        if flag in SWITCHES or flag in IGNORED:
            if eq:
                raise ConfigError(KEY, f"flag {flag} takes no value")
            if flag in SWITCHES:
                out.service[SWITCHES[flag]] = True
                out.notes.append(f"{KEY}: {flag} -> compose {SWITCHES[flag]}: true")
            else:
                out.notes.append(f"{KEY}: {flag} ignored ({IGNORED[flag]})")
            continue
        known = flag in _SPECIAL or flag in SCALARS or flag in LISTS or flag in MAPPINGS or flag in IGNORED_WITH_VALUE
        if not known:  # a word that is no flag may be a pasted value (a key): never echo it
            shown = f"flag {flag}" if flag.startswith("-") and not looks_secret(flag) else f"word {i} (not a flag)"
            raise ConfigError(KEY, f"{shown} has no Docker Compose equivalent",
                              hint="see the README's Execution section for the flags that are translated")
        if not eq:
            if i >= len(words):
                raise ConfigError(KEY, f"flag {flag} needs a value")
            value, i = words[i], i + 1
        _apply(out, flag, value)
    return out


def _apply(out: DockerExtras, flag: str, value: str) -> None:
    kind = _SPECIAL.get(flag)
    if kind == "network":
        out.network = value
    elif kind == "gpus":
        out.gpus = value
    elif kind == "env":
        name, has_value, literal = value.partition("=")
        if has_value:
            if looks_secret(name):
                raise ConfigError(KEY, f"-e {name}=... would write a secret into the run folder",
                                  hint=f"write -e {name} to read it from your shell or .env")
            out.env[name] = literal
        else:
            out.host_env.append(name)
    elif kind == "volume":
        if ":" not in value:
            raise ConfigError(KEY, f"volume {value.split(':')[0]!r} needs SRC:DST", hint="e.g. -v /data:/data:ro")
        out.volumes.append(value)
    elif flag == "--shm-size":
        out.shm_size = value
    elif flag == "--log-driver":
        out.service.setdefault("logging", {})["driver"] = value
        out.notes.append(f"{KEY}: {flag} -> compose logging.driver")
    elif flag in SCALARS:
        key = SCALARS[flag]
        out.service[key] = _scalar(key, value, flag)
        out.notes.append(f"{KEY}: {flag} -> compose {key}")
    elif flag in LISTS:
        out.service.setdefault(LISTS[flag], []).append(value)
        out.notes.append(f"{KEY}: {flag} -> compose {LISTS[flag]}")
    elif flag in MAPPINGS:
        _mapping(out, flag, value)
    else:
        out.notes.append(f"{KEY}: {flag} ignored ({IGNORED_WITH_VALUE[flag]})")


def _scalar(key: str, value: str, flag: str) -> Any:
    if key in _INTEGERS:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(KEY, f"flag {flag} takes a whole number") from None
    if key == "stop_grace_period":
        return f"{value}s" if value.isdigit() else value
    return value


def _mapping(out: DockerExtras, flag: str, value: str) -> None:
    key = MAPPINGS[flag]
    name, _, text = value.partition("=")
    item: Any = text
    if key == "ulimits":
        soft, _, hard = text.partition(":")
        try:
            item = {"soft": int(soft), "hard": int(hard)} if hard else int(soft)
        except ValueError:
            raise ConfigError(KEY, f"--ulimit {name} needs numbers", hint="e.g. --ulimit nofile=1024:2048") from None
    target = out.service.setdefault("logging", {}).setdefault("options", {}) if key == "logging" \
        else out.service.setdefault(key, {})
    target[name] = item
    out.notes.append(f"{KEY}: {flag} -> compose {key}")


def looks_secret(name: str) -> bool:
    """True for variable names that by convention hold credentials (API_KEY, HF_TOKEN, ...)."""
    return bool(_SECRET_NAME.search(name))

"""Every config form the launcher took over its 0.1.x-0.2.x history, rewritten to one form.

Users still have configs written from older documentation and releases. evalcompose accepts them
and says what it rewrote (one note per rewrite, printed on dry run):

* ``evaluation.overrides`` / ``evaluation.tasks[i].overrides`` with dotted keys
  (``config.params.parallelism: 4``) become nested ``nemo_evaluator_config`` mappings; explicit
  ``nemo_evaluator_config`` wins. The launcher passed them as ``--overrides k=v`` and
  nemo-evaluator parsed each value as YAML, so a string value is parsed the same way here:
  ``'"Think step by step."'`` is the text without quotes, ``'true'`` a boolean, ``'0.6'`` a float.
* A task's ``config:`` (0.1.x) is its ``nemo_evaluator_config``.
* ``env_vars`` values in every spelling the launcher read (:func:`normalize_env_value`).
* ``execution.env_vars`` (older form), flat or split into ``evaluation:`` / ``deployment:`` /
  ``export:``, becomes ``env_vars`` / ``deployment.env_vars`` / ``export.env_vars``.
* ``target.api_endpoint.api_key`` (older still) is ``api_key_name``.

Bare task names (``ifeval``) are resolved later, against the catalog (:mod:`composer.catalog`).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import ConfigError
from .envspec import ENV_PREFIXES

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OC_ENV = re.compile(r"\$\{oc\.env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:,[^}]*)?\}")
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EXEC_ENV_SECTIONS = ("evaluation", "deployment", "export")


def env_scopes(config: dict) -> list[tuple[str, dict]]:
    """Every ``env_vars`` mapping of a (composed or resolved) config, with its key path."""
    out: list[tuple[str, dict]] = []

    def add(where: str, node: Any) -> None:
        env = node.get("env_vars") if isinstance(node, dict) else None
        if isinstance(env, dict):
            out.append((f"{where}.env_vars" if where else "env_vars", env))

    add("", config)
    evaluation = config.get("evaluation")
    add("evaluation", evaluation)
    for i, task in enumerate((evaluation or {}).get("tasks") or [] if isinstance(evaluation, dict) else []):
        add(f"evaluation.tasks[{i}]", task)
    add("deployment", config.get("deployment"))
    add("export", config.get("export"))
    execution = config.get("execution")
    env = execution.get("env_vars") if isinstance(execution, dict) else None
    if isinstance(env, dict):
        out.append(("execution.env_vars", env))  # its evaluation:/deployment:/export: mappings follow
        for section in _EXEC_ENV_SECTIONS:
            if isinstance(env.get(section), dict):
                out.append((f"execution.env_vars.{section}", env[section]))
    return out


def references_before_resolution(composed: dict, notes: list[str]) -> None:
    """Before interpolation: ``${oc.env:NAME}`` and ``${NAME}`` env values are host references.

    The launcher handed these to the container as ``$NAME`` references; resolving them here would
    copy the value into the run folder. ``${NAME}`` that names a top-level key stays an
    interpolation.
    """
    for where, env in env_scopes(composed):
        for name, value in list(env.items()):
            if not isinstance(value, str):
                continue
            match = _OC_ENV.fullmatch(value.strip())
            braced = _BRACED.fullmatch(value.strip())
            if match:
                env[name] = f"host:{match.group(1)}"
                notes.append(f"{where}.{name}: oc.env:{match.group(1)} is read as host:{match.group(1)} "
                             "(a reference: no value copied)")
            elif braced and braced.group(1) not in composed:
                env[name] = f"host:{braced.group(1)}"


def modernize(config: dict, notes: list[str]) -> dict:
    """Rewrite the older forms in place (returns ``config``); appends one note per rewrite."""
    evaluation = config.get("evaluation")
    for node in (config, evaluation, config.get("deployment"), *((evaluation or {}).get("tasks") or []
                                                                  if isinstance(evaluation, dict) else [])):
        _drop_empty_mappings(node)
    if isinstance(evaluation, dict):
        _lift_overrides(evaluation, "evaluation", notes)
        for i, task in enumerate(evaluation.get("tasks") or []):
            if isinstance(task, dict):
                _task_config(task, f"evaluation.tasks[{i}]", notes)
                _lift_overrides(task, f"evaluation.tasks[{i}]", notes)
    for where, env in env_scopes(config):
        for name in list(env):
            if not (where == "execution.env_vars" and name in _EXEC_ENV_SECTIONS and isinstance(env[name], dict)):
                env[name] = normalize_env_value(env[name], f"{where}.{name}", notes)
    _lift_execution_env(config, notes)
    endpoint = (config.get("target") or {}).get("api_endpoint")
    if isinstance(endpoint, dict) and "api_key" in endpoint and "api_key_name" not in endpoint:
        endpoint["api_key_name"] = endpoint.pop("api_key")
        notes.append("target.api_endpoint.api_key -> target.api_endpoint.api_key_name (older form)")
    return config


def _drop_empty_mappings(node: Any) -> None:
    """``env_vars:`` / ``nemo_evaluator_config:`` left empty (YAML null) mean "none", as the launcher's .get() read them."""
    if isinstance(node, dict):
        for key in ("env_vars", "nemo_evaluator_config"):
            if key in node and node[key] is None:
                node.pop(key)


def normalize_env_value(value: Any, key: str, notes: list[str]) -> str:
    """One env value in the canonical ``host:NAME`` / ``lit:VALUE`` / ``runtime:VALUE`` form.

    Accepted spellings: those three prefixes, ``$host:NAME`` / ``$lit:VALUE`` (a shipped example
    wrote them so), a bare ``NAME``, ``$NAME`` and ``${NAME}`` (all three: the host variable NAME,
    as the launcher's ``-e DST=$NAME``). Anything else is a :class:`ConfigError` naming ``key``.
    """
    if not isinstance(value, str):
        raise ConfigError(key, "is not an environment value (a host variable NAME, host:NAME or lit:VALUE)",
                          hint="write lit:VALUE for a literal value, e.g. lit:1")
    raw = value.lstrip()
    if raw.startswith(tuple(f"${p}" for p in ENV_PREFIXES)):
        raw = raw[1:]
    if raw.startswith(ENV_PREFIXES):
        kind, _, rest = raw.partition(":")
        if kind == "lit":
            return raw  # a literal keeps every character after the prefix
        if kind == "host" and not ENV_NAME.fullmatch(rest.strip()):
            raise ConfigError(key, "host: needs the NAME of a host variable (letters, digits, _)",
                              hint="e.g. host:HF_TOKEN; write lit:VALUE for a literal value")
        return f"{kind}:{rest.strip()}"
    text = raw.strip()
    for pattern in (r"\$\{(\w+)\}", r"\$(\w+)", r"(\w+)"):
        found = re.fullmatch(pattern, text)
        if found and ENV_NAME.fullmatch(found.group(1)):
            notes.append(f"{key}: unprefixed value read as host:<name> (older form)")
            return f"host:{found.group(1)}"
    raise ConfigError(key, "is none of the environment value spellings",
                      hint="write host:NAME (a variable of your shell), lit:VALUE (a literal) or runtime:VALUE")


def _task_config(task: dict, where: str, notes: list[str]) -> None:
    """0.1.x task ``config:`` -> ``nemo_evaluator_config`` (either its whole shape or its config: part)."""
    old = task.pop("config", None)
    if old is None:
        return
    if not isinstance(old, dict):
        raise ConfigError(f"{where}.config", "must be a mapping", hint="e.g. config: {params: {limit_samples: 10}}")
    nested = old if set(old) <= {"config", "target"} else {"config": old}
    task["nemo_evaluator_config"] = deep_merge(nested, task.get("nemo_evaluator_config") or {})
    notes.append(f"{where}.config -> {where}.nemo_evaluator_config (0.1.x form)")


def _lift_execution_env(config: dict, notes: list[str]) -> None:
    """``execution.env_vars`` (older form) -> ``env_vars`` / ``deployment.env_vars`` / ``export.env_vars``."""
    execution = config.get("execution")
    env = execution.pop("env_vars", None) if isinstance(execution, dict) else None
    if not env:
        return
    if not isinstance(env, dict):
        raise ConfigError("execution.env_vars", "must be a mapping", hint="move it to top-level env_vars")
    sections = {s: env.pop(s) for s in _EXEC_ENV_SECTIONS if isinstance(env.get(s), dict)}
    evaluation_env = {**env, **sections.get("evaluation", {})}
    config["env_vars"] = {**evaluation_env, **(config.get("env_vars") or {})}
    for section in ("deployment", "export"):
        if sections.get(section):
            node = config.setdefault(section, {}) if section == "export" else config.get("deployment")
            if isinstance(node, dict):
                node["env_vars"] = {**sections[section], **(node.get("env_vars") or {})}
    notes.append("execution.env_vars -> env_vars / deployment.env_vars / export.env_vars (older form)")


def override_value(value: Any) -> Any:
    """A dotted override's value as nemo-evaluator read it: strings parsed as YAML (scalars stay)."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _lift_overrides(node: dict, where: str, notes: list[str]) -> None:
    overrides = node.pop("overrides", None)
    if overrides is None:
        return
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}.overrides", "must be a mapping of dotted keys to values",
                          hint="e.g. config.params.limit_samples: 10")
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        if parts[0] not in ("config", "target"):
            raise ConfigError(f"{where}.overrides.{dotted}", "dotted override keys start with config. or target.",
                              hint="e.g. config.params.parallelism or target.api_endpoint.adapter_config.use_reasoning")
        cursor = nested
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
            if not isinstance(cursor, dict):
                raise ConfigError(f"{where}.overrides.{dotted}", "clashes with another override key")
        cursor[parts[-1]] = override_value(value)
    explicit = node.get("nemo_evaluator_config") or {}
    node["nemo_evaluator_config"] = deep_merge(nested, explicit)
    notes.append(f"{where}.overrides -> {where}.nemo_evaluator_config (seed-document form, values read as YAML)")


def deep_merge(base: dict, top: dict) -> dict:
    """A new dict: ``base`` with ``top`` merged over it, mappings merged key by key."""
    out = dict(base)
    for key, value in top.items():
        if value == "???" and key in out:  # OmegaConf: a mandatory marker never replaces a set value
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out

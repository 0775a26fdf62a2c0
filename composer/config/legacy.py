"""The seed documents' config form, rewritten to release 0.2.6's form.

Users still have configs written from the older documentation, which 0.2.6 rejects. evalcompose
accepts them and says what it rewrote (one note per rewrite, printed on dry run):

* ``evaluation.overrides`` / ``evaluation.tasks[i].overrides`` with dotted keys
  (``config.params.parallelism: 4``, ``target.api_endpoint.adapter_config.use_reasoning: true``)
  become nested ``nemo_evaluator_config`` mappings; explicit ``nemo_evaluator_config`` wins.
* ``env_vars`` values without a ``host:``/``lit:``/``runtime:`` prefix name a host variable,
  so ``HF_TOKEN: HF_TOKEN_FOR_GPQA`` becomes ``HF_TOKEN: host:HF_TOKEN_FOR_GPQA``.
* ``target.api_endpoint.api_key`` (older still) is ``api_key_name``.

Bare task names (``ifeval``) are resolved later, against the catalog (:mod:`composer.catalog`).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .envspec import ENV_PREFIXES


def modernize(config: dict, notes: list[str]) -> dict:
    """Rewrite the seed form in place (returns ``config``); appends one note per rewrite."""
    evaluation = config.get("evaluation")
    if isinstance(evaluation, dict):
        _lift_overrides(evaluation, "evaluation", notes)
        _prefix_env(evaluation, "evaluation", notes)
        for i, task in enumerate(evaluation.get("tasks") or []):
            if isinstance(task, dict):
                _lift_overrides(task, f"evaluation.tasks[{i}]", notes)
                _prefix_env(task, f"evaluation.tasks[{i}]", notes)
    _lift_execution_env(config, notes)
    for where in ("env_vars", "deployment"):
        node = config if where == "env_vars" else config.get("deployment")
        if isinstance(node, dict):
            _prefix_env(node, "" if where == "env_vars" else "deployment", notes)
    endpoint = (config.get("target") or {}).get("api_endpoint")
    if isinstance(endpoint, dict) and "api_key" in endpoint and "api_key_name" not in endpoint:
        endpoint["api_key_name"] = endpoint.pop("api_key")
        notes.append("target.api_endpoint.api_key -> target.api_endpoint.api_key_name (older form)")
    return config


def _lift_execution_env(config: dict, notes: list[str]) -> None:
    """``execution.env_vars`` (older form) -> top-level ``env_vars`` / ``deployment.env_vars``."""
    execution = config.get("execution")
    env = execution.pop("env_vars", None) if isinstance(execution, dict) else None
    if not env:
        return
    if not isinstance(env, dict):
        raise ConfigError("execution.env_vars", "must be a mapping", hint="move it to top-level env_vars")
    split = set(env) <= {"evaluation", "deployment"} and all(isinstance(v, dict) for v in env.values())
    evaluation_env, deployment_env = (env.get("evaluation", {}), env.get("deployment", {})) if split else (env, {})
    config["env_vars"] = {**evaluation_env, **(config.get("env_vars") or {})}
    if deployment_env and isinstance(config.get("deployment"), dict):
        config["deployment"]["env_vars"] = {**deployment_env, **(config["deployment"].get("env_vars") or {})}
    notes.append("execution.env_vars -> env_vars / deployment.env_vars (older form)")


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
        cursor[parts[-1]] = value
    explicit = node.get("nemo_evaluator_config") or {}
    node["nemo_evaluator_config"] = deep_merge(nested, explicit)
    notes.append(f"{where}.overrides -> {where}.nemo_evaluator_config (seed-document form)")


def _prefix_env(node: dict, where: str, notes: list[str]) -> None:
    env = node.get("env_vars")
    if not isinstance(env, dict):
        return
    for name, value in list(env.items()):
        if isinstance(value, str) and not value.startswith(ENV_PREFIXES):
            env[name] = f"host:{value}"
            path = f"{where}.env_vars.{name}" if where else f"env_vars.{name}"
            notes.append(f"{path}: unprefixed value read as host:<name> (seed-document form)")


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

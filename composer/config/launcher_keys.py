"""Keys the launcher allows that evalcompose does not model: set aside, with a note.

Three kinds, applied to the composed or resolved config by :mod:`composer.config.loader`:

* values the launcher reads with ``.get()`` (``deployment.checkpoint_path``, ...): a ``???`` left
  there is "not set", as ``DictConfig.get`` returns the default for a missing value;
* keys of the launcher's other executors (``execution.num_nodes`` of slurm, ``lepton_platform``)
  and deployments: accepted, and a note says local runs ignore them;
* top-level mappings that are the user's own variables for interpolation (``judge: {url: ...}``
  used as ``${judge.url}``): kept for interpolation, then set aside. A key close to a known one
  (``evalution``) is still a typo and gets "did you mean".

And one rewrite: a ``lit:`` value under a secret-looking name (``DUMMY_API_KEY: lit:dummy``) is
delivered like ``host:`` secrets (a Compose secret read from the environment at ``up`` time):
:func:`literal_secrets` takes the values out of the config and leaves ``lit:<redacted>`` in the copy
that files are written from.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

from ..errors import ConfigError
from .docker_args import looks_secret
from .legacy import env_scopes
from .models import EvalConfig

REDACTED = "lit:<redacted>"
# read with .get() by the launcher's local executor: a ``???`` there means "not set"
OPTIONAL_WHEN_MISSING = (("deployment", "checkpoint_path"), ("deployment", "cache_path"),
                         ("deployment", "hf_model_handle"))
# keys of the launcher's slurm and lepton executors (configs/execution/*/default.yaml, 0.1.x-0.2.x)
FOREIGN = {
    "execution": {"hostname", "username", "account", "partition", "num_nodes", "num_instances", "ntasks_per_node",
                  "gres", "gpus_per_node", "walltime", "max_walltime", "subproject", "sbatch_comment",
                  "sbatch_extra_flags", "proxy", "deployment", "exclusive", "env_var_names", "evaluation_tasks",
                  "lepton_platform", "client_gpus", "dependency"},
    "deployment": {"n_tasks", "num_nodes", "num_instances", "multiple_instances", "lepton_config", "proxy",
                   "node_group", "resource_shape", "pre_cmd"},
    "execution.auto_export": {"partition", "launcher_install_cmd"},
}
# top-level keys the launcher itself knows but a local run has no use for
LAUNCHER_TOP_LEVEL = {"user_provided_metadata", "judge_deployment", "user_deployment", "watcher", "cluster_config"}


def unset_optional(composed: dict) -> None:
    """``???`` at a key the launcher reads with ``.get()`` -> None (before interpolation)."""
    for section, key in OPTIONAL_WHEN_MISSING:
        node = composed.get(section)
        if isinstance(node, dict) and node.get(key) == "???":
            node[key] = None


def set_aside(resolved: dict, notes: list[str]) -> None:
    """Drop other executors' keys and the user's own top-level variables, each with a note."""
    for where, names in FOREIGN.items():
        node: Any = resolved
        for part in where.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for name in sorted(names & set(node)):
            node.pop(name)
            notes.append(f"{where}.{name}: a key of the launcher's other executors; local runs ignore it")
    known = sorted(EvalConfig.model_fields)
    for name in [k for k in resolved if k not in EvalConfig.model_fields]:
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.75)
        if close:
            raise ConfigError(str(name), "unknown key", hint=f"did you mean '{close[0]}'?")
        resolved.pop(name)
        why = "a launcher key local runs do not use" if name in LAUNCHER_TOP_LEVEL else \
            "your own variables (for interpolation); evalcompose ignores it otherwise"
        notes.append(f"{name}: {why}")


def literal_secrets(resolved: dict, notes: list[str]) -> tuple[dict[str, str], dict]:
    """Take ``lit:`` values under secret-looking names out of ``resolved`` (in place).

    Each becomes ``host:<VAR>``; returns ``({VAR: value}, copy for files)`` where the copy shows
    ``lit:<redacted>``. ``VAR`` is the variable's own name; a second, different value for the same
    name gets ``NAME_2`` (and so on), so every scope keeps its value.
    """
    redacted = copy.deepcopy(resolved)
    values: dict[str, str] = {}
    endpoint = ((resolved.get("target") or {}).get("api_endpoint") or {}) if isinstance(resolved.get("target"), dict) else {}
    api_key_name = endpoint.get("api_key_name") if isinstance(endpoint, dict) else None  # a secret whatever its name
    for (where, env), (_, shown) in zip(env_scopes(resolved), env_scopes(redacted), strict=True):
        if where == "deployment.env_vars":
            continue  # the model server's own: deploy.ModelPlan.literal_secrets delivers those the same way
        for name, spec in list(env.items()):
            if not (isinstance(spec, str) and spec.startswith("lit:") and (looks_secret(str(name)) or name == api_key_name)):
                continue
            value = spec.removeprefix("lit:")
            var = _variable_for(str(name), value, values)
            values[var] = value
            env[name] = f"host:{var}"
            shown[name] = REDACTED
            notes.append(f"{where}.{name}: the lit: value is delivered as a Compose secret from the environment "
                         f"({var}), never written to a file")
    return values, redacted


def _variable_for(name: str, value: str, taken: dict[str, str]) -> str:
    """``name`` if free or already holding ``value``, else the first such ``name_2``, ``name_3``, ..."""
    n, candidate = 2, name
    while candidate in taken and taken[candidate] != value:
        candidate, n = f"{name}_{n}", n + 1
    return candidate

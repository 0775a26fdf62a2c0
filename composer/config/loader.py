"""Load a config the way nemo-evaluator-launcher composes it, without Hydra's start-up cost.

Steps, each raising :class:`~composer.errors.ConfigError` with the key path on bad input:

1. read the primary YAML file (``up CONFIG.yaml`` or ``--config-dir D --config-name N``);
2. compose the defaults list (``execution: local``, ``deployment: vllm``, ``_self_``, includes),
   taking group options from the user's config dir first, then from the groups we ship;
3. apply ``-o`` overrides (:mod:`composer.config.overrides`);
4. resolve ``${a.b}`` and ``${oc.env:VAR[,default]}`` with OmegaConf (the launcher's own engine),
   and refuse ``???`` values left unfilled;
5. rewrite the seed documents' form (:mod:`composer.config.legacy`);
6. validate with the pydantic models (:mod:`composer.config.models`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from . import legacy
from .docker_args import looks_secret
from .models import EvalConfig
from .overrides import Override, apply_overrides, group_choices, parse_override

GROUPS_DIR = Path(__file__).parent / "groups"
IMPLICIT_DEFAULTS = [{"execution": "local"}, {"deployment": "none"}, "_self_"]


@dataclass
class LoadedConfig:
    """A validated config plus what loading noticed on the way."""

    config: EvalConfig
    resolved: dict[str, Any]
    source: Path
    notes: list[str] = field(default_factory=list)


def locate(config: str | None, config_dir: str | None, config_name: str | None) -> Path:
    """The primary config file from either CLI form."""
    if config:
        path = Path(config)
    elif config_dir and config_name:
        name = config_name if config_name.endswith((".yaml", ".yml")) else f"{config_name}.yaml"
        path = Path(config_dir) / name
    else:
        raise ConfigError(None, "no config given", hint="evalcompose up CONFIG.yaml, or --config-dir DIR --config-name NAME")
    if not path.is_file():
        raise ConfigError(None, f"config file not found: {path}", hint="check the path (relative paths start from the current folder)")
    return path


def load_config(path: Path, overrides: list[str] = (), environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load, compose, override, resolve, modernize and validate one config file."""
    environ = {} if environ is None else environ
    parsed = [parse_override(o) for o in overrides]
    notes: list[str] = []
    composed = _compose(path, group_choices(parsed), seen=set())
    apply_overrides(composed, parsed)
    resolved = _resolve(composed, environ)
    legacy.modernize(resolved, notes)
    try:
        config = EvalConfig.model_validate(resolved)
    except ValidationError as exc:
        raise _config_error(exc) from None
    return LoadedConfig(config=config, resolved=resolved, source=path, notes=notes)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(None, f"{path} is not valid YAML{where}", hint="check indentation and quoting") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(None, f"{path} must hold a mapping at the top level")
    return data


def _compose(path: Path, choices: dict[str, str], seen: set[Path]) -> dict:
    """The primary file merged with its defaults list, in list order."""
    if path.resolve() in seen:
        raise ConfigError("defaults", f"{path.name} includes itself")
    seen.add(path.resolve())
    own = _read_yaml(path)
    defaults = own.pop("defaults", None)
    if defaults is None:
        defaults = IMPLICIT_DEFAULTS
    if not isinstance(defaults, list):
        raise ConfigError("defaults", "must be a list", hint="e.g. [{execution: local}, {deployment: none}, _self_]")
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]
    listed = {next(iter(e)) for e in defaults if isinstance(e, dict) and len(e) == 1}
    defaults = [*({g: o} for g, o in choices.items() if g not in listed), *defaults]
    out: dict = {}
    for i, entry in enumerate(defaults):
        if entry == "_self_":
            layer = own
        elif isinstance(entry, str):
            layer = _compose(path.parent / f"{entry.removesuffix('.yaml')}.yaml", {}, seen)
        elif isinstance(entry, dict) and len(entry) == 1:
            group, option = next(iter(entry.items()))
            group = str(group).removeprefix("override ").strip()
            option = choices.get(group, option)
            layer = {group: _group_option(path.parent, group, option, f"defaults[{i}]")}
        else:
            raise ConfigError(f"defaults[{i}]", "unsupported defaults entry",
                              hint="entries are 'group: option', a config name, or _self_")
        out = legacy.deep_merge(out, layer)
    return out


def _group_option(config_dir: Path, group: str, option: Any, key: str) -> dict:
    option = str(option)
    if group == "execution" and option.split("/")[0] in ("slurm", "lepton"):
        raise ConfigError(f"{key}.execution", f"'{option}' is not supported: evalcompose runs execution: local on Docker Compose",
                          hint="set '- execution: local' in the defaults list")
    for base in (config_dir, GROUPS_DIR):
        candidate = base / group / f"{option}.yaml"
        if candidate.is_file():
            return _read_yaml(candidate)
    known = sorted(p.stem for p in (GROUPS_DIR / group).glob("*.yaml")) if (GROUPS_DIR / group).is_dir() else []
    if not known:
        raise ConfigError(f"{key}", f"unknown config group '{group}'", hint="groups are execution and deployment")
    raise ConfigError(f"{key}.{group}", f"unknown option '{option}'", hint=_suggest(option, known, "choose one of"))


def _resolve(composed: dict, environ: Mapping[str, str]) -> dict:
    """Resolve interpolations with OmegaConf; ``???`` left anywhere is an error naming its key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    def env(name: str, default: Any = "\0unset") -> Any:
        if looks_secret(name):
            raise _SecretInterpolation(name)
        if name in environ:
            return environ[name]
        if default != "\0unset":
            return default
        raise _UnsetEnv(name)

    def select_not_null(*args: Any, _root_: Any) -> Any:
        """The launcher's resolver: the first argument that is a non-null key's value, or a literal."""
        for arg in args:
            value = OmegaConf.select(_root_, str(arg), default=None) if _looks_like_key(arg) else arg
            if value is not None:
                return value
        return None

    register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
    register("oc.env", env, replace=True)
    register("select_not_null", select_not_null, replace=True)
    try:
        node = OmegaConf.create(composed)
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        raise ConfigError(exc.full_key, "is mandatory (???) and has no value",
                          hint=f"set it in the config or with -o {exc.full_key}=...") from None
    except OmegaConfBaseException as exc:
        cause = exc.__cause__ or exc.__context__
        key = getattr(exc, "full_key", None) or None
        if isinstance(cause, _SecretInterpolation):
            raise ConfigError(key, f"${{oc.env:{cause.name}}} would copy a secret into the run folder",
                              hint="name the variable instead: api_key_name, or env_vars with host:NAME") from None
        if isinstance(cause, _UnsetEnv):
            raise ConfigError(key, f"environment variable {cause.name} is not set",
                              hint=f"export {cause.name}, put it in .env, or give a default: ${{oc.env:{cause.name},value}}") from None
        first = str(exc).splitlines()[0]
        raise ConfigError(key, f"cannot resolve interpolation: {first}",
                          hint="interpolations look like ${target.api_endpoint.model_id}") from None


def _looks_like_key(arg: Any) -> bool:
    return isinstance(arg, str) and bool(arg) and not arg.startswith("/") and "." in arg


class _SecretInterpolation(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _UnsetEnv(_SecretInterpolation):
    pass


def _config_error(exc: ValidationError) -> ConfigError:
    """One ConfigError from pydantic's first error: key path, plain message, a hint; no input value."""
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = err["loc"]
    key = format_key(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _fields_at(EvalConfig, loc[:-1])
        return ConfigError(key, "unknown key", hint=_suggest(str(loc[-1]), known, "known keys here are"))
    if kind == "missing":
        return ConfigError(key, "is required", hint=f"set it in the config or with +{'.'.join(map(str, loc))}=...")
    message = err["msg"].removeprefix("Value error, ")
    return ConfigError(key, message[0].lower() + message[1:])


def format_key(loc: tuple) -> str:
    """``('evaluation', 'tasks', 2, 'name')`` -> ``evaluation.tasks[2].name``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        nested = [a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return sorted(model.model_fields)


def _flatten(annotation: Any) -> list:
    args = get_args(annotation)
    return [annotation] if not args else [x for a in args for x in _flatten(a)]


def _suggest(word: str, known: list[str], lead: str) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean '{close[0]}'?" if close else f"{lead}: {', '.join(known)}"

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
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from . import launcher_keys, legacy
from .docker_args import looks_secret
from .models import EvalConfig
from .overrides import apply_overrides, group_choices, parse_override
from .validate import check_config
from .yamlio import read_yaml_file

GROUPS_DIR = Path(__file__).parent / "groups"
IMPLICIT_DEFAULTS = [{"execution": "local"}, {"deployment": "none"}, "_self_"]


@dataclass
class LoadedConfig:
    """A validated config plus what loading noticed on the way."""

    config: EvalConfig
    resolved: dict[str, Any]  # what files we write may show: secret lit: values read lit:<redacted>
    source: Path
    notes: list[str] = field(default_factory=list)
    secret_values: dict[str, str] = field(default_factory=dict, repr=False)  # host variable -> lit: value


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


def load_config(path: Path, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load, compose, override, resolve, modernize and validate one config file."""
    environ = {} if environ is None else environ
    parsed = [parse_override(o) for o in overrides]
    notes: list[str] = []
    composed = _compose(path, group_choices(parsed), seen=set(), primary=True)
    apply_overrides(composed, parsed)
    legacy.references_before_resolution(composed, notes)
    launcher_keys.unset_optional(composed)
    resolved = _resolve(composed, environ)
    legacy.modernize(resolved, notes)
    launcher_keys.set_aside(resolved, notes)
    secret_values, redacted = launcher_keys.literal_secrets(resolved, notes)
    try:
        config = EvalConfig.model_validate(resolved)
    except ValidationError as exc:
        raise _config_error(exc) from None
    check_config(config)  # values the types alone do not pin down (names, ranges, URLs, paths)
    return LoadedConfig(config=config, resolved=redacted, source=path, notes=notes, secret_values=secret_values)


def _read_yaml(path: Path) -> dict:
    """One config file as a mapping, through the guarded reader (size, UTF-8, alias bombs, duplicate keys)."""
    return read_yaml_file(path)


def _compose(path: Path, choices: dict[str, str], seen: set[Path], primary: bool = False) -> dict:
    """The primary file merged with its defaults list, in list order.

    Only the primary config gets the implicit defaults (execution: local, deployment: none): an
    included config without a defaults list is just itself, so it cannot reset a group choice.
    """
    if path.resolve() in seen:
        raise ConfigError("defaults", f"{path.name} includes itself")
    seen.add(path.resolve())
    own = _read_yaml(path)
    defaults = own.pop("defaults", None)
    if defaults is None:
        defaults = IMPLICIT_DEFAULTS if primary else ["_self_"]
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
            include = path.parent / f"{entry.removesuffix('.yaml')}.yaml"
            if not include.is_file():
                raise ConfigError(f"defaults[{i}]", f"no config named '{entry}' next to {path.name}",
                                  hint="name a config file of the same folder, without .yaml")
            layer = _compose(include, {}, seen)
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


@dataclass
class _Resolving:
    """What the resolvers of one :func:`_resolve` call see: its environment, and the failures
    they met (OmegaConf drops a resolver's exception: they are remembered here)."""

    environ: Mapping[str, str]
    failures: list[tuple[str, str]] = field(default_factory=list)


_CURRENT: ContextVar[_Resolving] = ContextVar("evalcompose_resolving")
_UNSET = "\0unset"


def _env_resolver(name: str, default: Any = _UNSET) -> Any:
    """``${oc.env:NAME[,default]}`` against the environment given to :func:`load_config` (never a secret)."""
    current = _CURRENT.get()
    if looks_secret(name):
        current.failures.append(("secret", name))
        raise ValueError(name)
    if name in current.environ:
        return current.environ[name]
    if default != _UNSET:
        return default
    current.failures.append(("unset", name))
    raise ValueError(name)


def _select_not_null(*args: Any, _root_: Any) -> Any:
    """The launcher's resolver: the first argument that is a non-null key's value, or a literal."""
    from omegaconf import OmegaConf

    for arg in args:
        value = OmegaConf.select(_root_, str(arg), default=None) if _looks_like_key(arg) else arg
        if value is not None:
            return value
    return None


@cache
def _register_resolvers() -> None:
    """Register our two resolvers with OmegaConf, once per process (they read :data:`_CURRENT`)."""
    from omegaconf import OmegaConf

    _register_resolver(OmegaConf, "oc.env", _env_resolver)
    _register_resolver(OmegaConf, "select_not_null", _select_not_null)


def _resolve(composed: dict, environ: Mapping[str, str]) -> dict:
    """Resolve interpolations with OmegaConf; ``???`` left anywhere is an error naming its key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    _register_resolvers()
    current = _Resolving(environ)
    token = _CURRENT.set(current)
    failures = current.failures
    try:
        node = OmegaConf.create(composed)
        resolved = OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
        assert isinstance(resolved, dict)
        return resolved
    except MissingMandatoryValue as exc:
        raise _typo_error(composed, exc.full_key or "") or ConfigError(
            exc.full_key, "is mandatory (???) and has no value",
            hint=f"set it in the config or with -o {exc.full_key}=...") from None
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or None
        kind, name = failures[-1] if failures else ("", "")
        if kind == "secret":
            raise ConfigError(key, f"${{oc.env:{name}}} would copy a secret into the run folder",
                              hint="name the variable instead: api_key_name, or env_vars with host:NAME") from None
        if kind == "unset":
            raise ConfigError(key, f"environment variable {name} is not set",
                              hint=f"export {name}, put it in .env, or give a default: ${{oc.env:{name},value}}") from None
        first = str(exc).splitlines()[0]
        raise ConfigError(key, f"cannot resolve interpolation: {first}",
                          hint="interpolations look like ${target.api_endpoint.model_id}") from None
    finally:
        _CURRENT.reset(token)


def _register_resolver(omegaconf: Any, name: str, resolver: Any) -> None:
    """Register with whichever API this OmegaConf has: 2.4 renamed register_new_resolver to
    register_resolver (the old name warns); in 2.3 register_resolver is the legacy API (no replace=)."""
    import inspect

    modern = getattr(omegaconf, "register_resolver", None)
    if modern is not None and "replace" in inspect.signature(modern).parameters:
        modern(name, resolver, replace=True)
    else:
        omegaconf.register_new_resolver(name, resolver, replace=True)


def _looks_like_key(arg: Any) -> bool:
    return isinstance(arg, str) and bool(arg) and not arg.startswith("/") and "." in arg


def _typo_error(composed: dict, missing_key: str) -> ConfigError | None:
    """When a mandatory key is unset because the user misspelled it, say so (not 'is mandatory')."""
    *parents, leaf = missing_key.split(".")
    node: Any = composed
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    known = set(_fields_at(EvalConfig, tuple(parents)))
    if not known:  # a free-form mapping (export.mlflow, nemo_evaluator_config): no key is a stranger
        return None
    strangers = [k for k in node if k not in known and k != leaf and difflib.get_close_matches(str(k), [leaf], n=1)]
    if not strangers:
        return None
    return ConfigError(".".join([*parents, str(strangers[0])]), "unknown key", hint=f"did you mean '{leaf}'?")


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
    expected = _annotation_at(EvalConfig, loc)
    hint = f"{key.rsplit('.', 1)[-1]} takes {expected}" if expected else "see the README's Configs section"
    return ConfigError(key, message[0].lower() + message[1:], hint=hint)


def _annotation_at(model: type[BaseModel], loc: tuple) -> str | None:
    """The declared type at a key path, as text (``int | None``), or None."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    fields = model.model_fields
    for part in names[:-1]:
        if part not in fields:
            return None
        nested = [a for a in _flatten(fields[part].annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return None
        fields = nested[0].model_fields
    field = fields.get(names[-1])
    if field is None:
        return None
    text = str(field.annotation).replace("typing.", "").replace("NoneType", "None")
    return re.sub(r"<class '(\w+)'>", r"\1", text)


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

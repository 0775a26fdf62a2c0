"""config -> plan -> files on disk: the part of ``up`` that needs no Docker."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..plan import Plan
    from ..workspace import RunInfo


@dataclass
class Prepared:
    plan: Plan
    run_dir: Path
    environ: dict[str, str]
    env_file: Path | None
    missing: list[tuple[str, str]]  # (host variable, config key that names it)
    files: dict[str, str]
    build_base: str  # default BASE_IMAGE of the harness images built from PyPI
    wheelhouses: dict[str, Path] = field(default_factory=dict)  # build folder -> filled wheel cache

    @property
    def builds(self) -> list:
        """The distinct harness images built from PyPI (:class:`composer.images.HarnessBuild`)."""
        return list({t.build_spec.tag: t.build_spec for t in self.plan.tasks if t.build_spec}.values())

    def fill_wheelhouses(self, say: Callable[[str], None]) -> None:
        """Download (once, into the cache) the wheels of every harness built from PyPI."""
        from ..images import harness_wheelhouse

        for spec in self.builds:
            self.wheelhouses[spec.folder] = harness_wheelhouse(spec, say)

    def summary(self) -> dict:
        """What up/run print with --json (dry run and detached start)."""
        plan = self.plan
        return {
            "invocation_id": plan.invocation_id,
            "project": plan.project,
            "run_dir": str(self.run_dir),
            "compose_file": str(self.run_dir / "compose.yaml"),
            "max_parallel": plan.max_parallel,
            "model": None if plan.model is None else {"service": "model", "image": plan.model.image},
            "tasks": [{"job_id": t.job_id, "service": t.service, "task": t.task, "endpoint_type": t.endpoint_type,
                       "image": t.image} for t in plan.tasks],
            "host_variables": {name: name not in {m for m, _ in self.missing} for name in plan.host_variables},
            "notes": list(plan.notes),
        }

    def run_info(self) -> RunInfo:
        """The written run as later commands see it, from the plan in memory (not re-read from disk)."""
        from ..render import run_meta
        from ..workspace import RunInfo

        return RunInfo(self.plan.invocation_id, self.run_dir.resolve(), self.plan.project, run_meta(self.plan))

    def write(self) -> Path:
        """Write the run folder (all or nothing) and register it; then link the wheelhouses into it."""
        from ..images import link_wheelhouse
        from ..workspace import write_run

        self.run_dir = write_run(self.plan, self.files)
        for folder, cached in self.wheelhouses.items():
            link_wheelhouse(cached, self.run_dir / folder / "wheelhouse")
        return self.run_dir


def load_environ(env_file: str | None) -> tuple[dict[str, str], Path | None]:
    """The shell's environment over the user's env file (``--env-file``, else ``./.env`` if present)."""
    path = Path(env_file) if env_file else Path(".env")
    if env_file and not path.is_file():
        raise ConfigError("--env-file", f"file not found: {path}")
    values: dict[str, str] = {}
    if path.is_file():
        from ..config.yamlio import read_env_file

        values = read_env_file(path)
        return {**values, **os.environ}, path
    return {**values, **os.environ}, None


def prepare(config: str | None, config_dir: str | None, config_name: str | None, overrides: list[str],
            env_file: str | None) -> Prepared:
    """Load, plan and render, in memory; :meth:`Prepared.write` puts it on disk."""
    from ..catalog import load_catalog
    from ..config import load_config, locate
    from ..images import DEFAULT_BASE_IMAGE
    from ..plan import build_plan, variable_sources
    from ..render import render

    environ, env_path = load_environ(env_file)
    loaded = load_config(locate(config, config_dir, config_name), overrides, environ)
    uid, gid = (os.getuid(), os.getgid()) if hasattr(os, "getuid") else (0, 0)
    plan = build_plan(loaded, load_catalog(), invocation_id=secrets.token_hex(8), now=datetime.now(),
                      user=f"{uid}:{gid}", cwd=Path.cwd(), home=Path.home())
    build_base = DEFAULT_BASE_IMAGE
    if any(t.build_spec for t in plan.tasks):  # BASE_IMAGE default: what this engine has, if one answers
        from ..control import pick_base_image

        build_base = pick_base_image(engine_required=False)
    from ..workspace import check_output_dir

    check_output_dir(plan.run_dir.parent)  # before any image is built or pulled
    if plan.model:  # optional tokens only when set; lit: secrets travel in memory, to compose's environment
        model = plan.model.with_available(environ)
        plan = replace(plan, model=model)
        environ.update(model.literal_secrets)
    environ = {**environ, **plan.secret_values}  # lit: values under secret names reach compose in memory only
    sources = variable_sources(loaded.config)
    missing = [(name, sources.get(name, "config")) for name in plan.host_variables if not environ.get(name)]
    return Prepared(plan=plan, run_dir=plan.run_dir, environ=environ, env_file=env_path, missing=missing,
                    files=render(plan, build_base), build_base=build_base)


def require_host_files(prepared: Prepared) -> None:
    """Before starting anything: the model checkpoint on this host exists (else the engine would
    mount an empty folder it creates in its place, and the server fail in a less clear way)."""
    model = prepared.plan.model
    if model and model.checkpoint and not Path(model.checkpoint).exists():
        from ..weights import KNOWN_MODELS

        known = Path(model.checkpoint).parent.name  # <cache>/models/<name>/<file> when fetch puts it there
        hint = (f"fetch it first: evalcompose models fetch {known}" if known in KNOWN_MODELS
                else "point deployment.checkpoint_path at the model file on this host")
        raise ConfigError("deployment.checkpoint_path", f"not found on this host: {model.checkpoint}", hint=hint)


def require_variables(prepared: Prepared) -> None:
    """Before starting anything: every host variable the run reads must be set."""
    if prepared.missing:
        name, key = prepared.missing[0]
        raise ConfigError(key, f"host variable {name} is not set",
                          hint=f"export {name}=... or put it in .env / --env-file (its value is never written)")

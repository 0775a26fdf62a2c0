"""``evalcompose up`` and ``evalcompose run`` (the launcher's spelling): write the project, then start it."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from .app import app

_O = typer.Option(None, "-o", "--override", help="Hydra-style override: key=value, +key=value, ~key (repeatable).")
_DRY = typer.Option(False, "--dry-run", help="Only write the run folder and print the project; start nothing.")
_JSON = typer.Option(False, "--json", help="Print one JSON object (for scripts).")
_DETACH = typer.Option(False, "-d", "--detach", help="Return once the tasks are started.")
_ENV = typer.Option(None, "--env-file", help="Env file with secret values (default: ./.env when present).")


@app.command()
def up(
    config: Optional[str] = typer.Argument(None, help="The config YAML file."),
    config_dir: Optional[str] = typer.Option(None, "--config-dir", help="Folder of configs (with --config-name)."),
    config_name: Optional[str] = typer.Option(None, "--config-name", help="Config name in --config-dir."),
    override: Optional[List[str]] = _O, dry_run: bool = _DRY, json_out: bool = _JSON, detach: bool = _DETACH,
    env_file: Optional[str] = _ENV,
) -> None:
    """Write the compose project for CONFIG and run it (attached: live view; -d: detached)."""
    _up(config, config_dir, config_name, override or [], dry_run, json_out, detach, env_file)


@app.command()
def run(
    config_dir: str = typer.Option(..., "--config-dir", help="Folder of configs."),
    config_name: str = typer.Option(..., "--config-name", help="Config name (file name without .yaml)."),
    override: Optional[List[str]] = _O, dry_run: bool = _DRY, json_out: bool = _JSON, detach: bool = _DETACH,
    env_file: Optional[str] = _ENV,
) -> None:
    """Same as up, spelled as nemo-evaluator-launcher's run."""
    _up(None, config_dir, config_name, override or [], dry_run, json_out, detach, env_file)


def _up(config, config_dir, config_name, overrides, dry_run, json_out, detach, env_file) -> None:
    from ._prepare import prepare, require_host_files, require_variables

    if not dry_run:
        from .. import runtime

        runtime.preflight()
    prepared = prepare(config, config_dir, config_name, overrides, env_file)
    say = lambda m: typer.echo(m, err=True)  # noqa: E731
    if not dry_run:
        require_variables(prepared)
        require_host_files(prepared)
    prepared.fill_wheelhouses(say)  # harnesses built from PyPI: the dry-run project builds too
    if not dry_run:
        from .. import control

        plan = prepared.plan
        control.ensure_images([t.image for t in plan.tasks] + ([plan.model.image] if plan.model else []), say=say,
                              builds=[(b, prepared.wheelhouses[b.folder]) for b in prepared.builds],
                              base=prepared.build_base)
    prepared.write()
    if dry_run:
        _print_dry_run(prepared, json_out)
        return
    from .live import start_and_watch

    start_and_watch(prepared, detach=detach, json_out=json_out)


def _print_dry_run(prepared, json_out: bool) -> None:
    info = prepared.summary()
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return
    plan = prepared.plan
    order = "sequential" if plan.max_parallel == 1 else (f"at most {plan.max_parallel} at once" if plan.max_parallel else "all in parallel")
    lines = [f"invocation {plan.invocation_id}   project {plan.project}", f"run folder  {prepared.run_dir}",
             f"tasks ({order}):"]
    lines += [f"  {t.job_id}  {t.service:<24} {t.task}  [{t.endpoint_type}]  {t.image}" for t in plan.tasks]
    if plan.model:
        lines.append(f"model service: {plan.model.image} (healthcheck {plan.model.health_path}, every task waits for it)")
    for name, is_set in info["host_variables"].items():
        lines.append(f"host variable {name}: {'set' if is_set else 'NOT SET (needed by up)'}")
    lines += [f"note: {n}" for n in plan.notes]
    lines.append("")
    lines.append((prepared.run_dir / "compose.yaml").read_text(encoding="utf-8"))
    lines.append(f"dry run: nothing started. To run it: docker compose --project-directory {prepared.run_dir} up")
    typer.echo("\n".join(lines))

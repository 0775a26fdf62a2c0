"""``execution.auto_export``: export ONE finished task to the config's destinations.

The launcher's local executor watches each task and, when it exits 0, runs ``export JOB --dest
D`` for each destination; a failed task is skipped with a log line. evalcompose does the same:
the background scheduler (:mod:`composer.runtime.scheduler`) runs the hidden command
``python -m composer _autoexport RUN_DIR SERVICE`` once per task when that task's container
has exited, and :func:`export_task` decides and exports:

* only a task whose status is SUCCESS (exited 0 with results.yml) is exported; a FAILED or
  KILLED (interrupted) task never is;
* idempotent: a marker ``<task>/.autoexport/<destination>.done`` per task and destination, so a
  resume or a second call does not export twice;
* destinations and their settings come from the run folder's ``config.yaml``:
  ``execution.auto_export.destinations`` and the top-level ``export:`` section (the launcher's
  ``config_templates/export/*.yaml`` shapes), ``execution.auto_export.configs`` being the older
  place of the same settings;
* a relative ``output_dir`` / file-store ``tracking_uri`` is taken from the run folder.

Plain ``docker compose up`` reruns have no scheduler and so do not export;
``evalcompose export ID`` does it afterwards.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .errors import EvalComposeError
from .layout import LOGS

MARKER_DIR = ".autoexport"
CONFIG_FILE = "config.yaml"
HIDDEN_COMMAND = "_autoexport"
LOCAL_FORMATS = ("json", "csv")


def run_config(run_dir: Path) -> dict:
    """The resolved config a run folder keeps (secret ``lit:`` values redacted)."""
    try:
        return yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def destinations(config: dict) -> list[str]:
    """``execution.auto_export.destinations`` of a resolved config ([] when none)."""
    auto = (config.get("execution") or {}).get("auto_export") or {}
    return [str(d) for d in auto.get("destinations") or []]


def settings(config: dict, destination: str) -> dict[str, Any]:
    """A destination's settings: ``export.<dest>`` over the older ``execution.auto_export.configs.<dest>``."""
    older = (((config.get("execution") or {}).get("auto_export") or {}).get("configs") or {}).get(destination) or {}
    return {**older, **((config.get("export") or {}).get(destination) or {})}


def hook_argv(run_dir: Path) -> tuple[str, ...] | None:
    """The scheduler's per-task command (SERVICE is appended), or None when the run has no auto_export."""
    if not destinations(run_config(run_dir)):
        return None
    return (sys.executable, "-m", "composer", HIDDEN_COMMAND, str(run_dir))


def marker(run_dir: Path, service: str, destination: str) -> Path:
    return run_dir / service / MARKER_DIR / f"{destination}.done"


def export_task(run_dir: Path, service: str, state: str) -> list[str]:
    """Export the task ``service`` of the run if ``state`` is SUCCESS; returns the log lines.

    Raises :class:`EvalComposeError` when a destination failed (the others are still tried).
    """
    from .results import read_task
    from .workspace import read_run

    config = run_config(run_dir)
    wanted = destinations(config)
    run = read_run(run_dir)
    task = next((t for t in run.tasks if t.service == service), None)
    if task is None:
        raise EvalComposeError(f"run {run.invocation_id} has no task {service}")
    if state != "SUCCESS":
        lines = [f"{task.job_id}: {state}, not exported (auto_export exports successful tasks only)"]
        _log(run_dir, service, lines)
        return lines
    result = read_task(run, task)
    lines, failed = [], []
    for dest in wanted:
        done = marker(run_dir, service, dest)
        if done.exists():
            lines.append(f"{task.job_id}: already exported to {dest}")
            continue
        try:
            with _export_environment(config):
                where = _export_one(dest, settings(config, dest), [result], run_dir)
        except EvalComposeError as exc:
            failed.append(f"{dest}: {exc.one_line()}")
            lines.append(f"{task.job_id}: export to {dest} failed: {exc.one_line()}")
            continue
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(f"{where}\n", encoding="utf-8")
        lines.append(f"{task.job_id}: exported to {dest} ({where})")
    _log(run_dir, service, lines)
    if failed:
        raise EvalComposeError(f"auto_export of {task.job_id}: " + "; ".join(failed))
    return lines


def configured(config: dict) -> list[str]:
    """Destinations a run's config names: auto_export's, else the top-level ``export:`` section's."""
    named = [d for d in (config.get("export") or {}) if d != "env_vars"]
    return destinations(config) or named


def export_results(run_dir: Path, results: list, dests: list[str]) -> list[str]:
    """``evalcompose export ID`` without --format: the config's destinations, with its settings."""
    config = run_config(run_dir)
    lines = []
    for dest in dests:
        with _export_environment(config):
            lines.append(f"{dest}: {_export_one(dest, settings(config, dest), results, run_dir)}")
    return lines


def _export_one(dest: str, cfg: dict[str, Any], results: list, run_dir: Path) -> str:
    """One destination for some tasks of one run; returns where they went."""
    from . import export

    metrics = cfg.get("log_metrics") or None
    if dest == "local":
        fmt = str(cfg.get("format") or "json").lower()
        if fmt not in LOCAL_FORMATS:
            raise EvalComposeError(f"export.local.format '{fmt}' is not json or csv")
        out = _from_run(cfg.get("output_dir") or ".", run_dir)
        report = export.export_local(results, fmt, out, cfg.get("output_filename"), metrics)
    elif dest == "mlflow":
        uri = cfg.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        if uri and "://" not in str(uri):
            uri = str(_from_run(str(uri), run_dir))
        elif uri and str(uri).startswith("file:") and not str(uri).startswith("file:/"):
            uri = str(_from_run(str(uri).removeprefix("file:"), run_dir))
        report = export.export_mlflow(results, uri, cfg.get("experiment_name") or export.DEFAULT_EXPERIMENT,
                                      metrics, bool(cfg.get("skip_existing", False)), bool(cfg.get("log_artifacts", True)))
    elif dest == "wandb":
        directory = _from_run(cfg["output_dir"], run_dir) if cfg.get("output_dir") else run_dir / "wandb"
        if cfg.get("mode"):
            os.environ.setdefault("WANDB_MODE", str(cfg["mode"]))
        report = export.export_wandb(results, cfg.get("project"), cfg.get("entity"), metrics, directory,
                                     bool(cfg.get("log_artifacts", True)))
    elif dest == "gsheets":
        try:
            import gspread  # noqa: F401  (the launcher's Google Sheets client)
        except ImportError:
            raise EvalComposeError("gsheets export needs the gspread client", hint="pip install gspread") from None
        raise EvalComposeError("gsheets export is not implemented by evalcompose",
                               hint="export to local (csv) and import it into the sheet")
    else:
        raise EvalComposeError(f"unknown destination '{dest}'", hint="local, mlflow, wandb or gsheets")
    if report.failed:
        raise EvalComposeError("; ".join(why for _, why in report.failed))
    return ", ".join(report.written) or "already there"


def _from_run(path: str, run_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else run_dir / p


@contextmanager
def _export_environment(config: dict) -> Iterator[None]:
    """``export.env_vars`` for the exporters: host:NAME from this process's environment, lit: literal.

    A redacted ``lit:`` (a secret) is in the environment under its own name: the scheduler got it
    from ``up``.
    """
    saved = dict(os.environ)
    for name, spec in ((config.get("export") or {}).get("env_vars") or {}).items():
        kind, _, value = str(spec).partition(":")
        if kind in ("host", "runtime") and value in os.environ:
            os.environ[name] = os.environ[value]
        elif kind == "lit" and value != "<redacted>":
            os.environ[name] = value
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _log(run_dir: Path, service: str, lines: list[str]) -> None:
    """Append to ``<task>/logs/autoexport.log`` (the launcher logged into the task's stdout.log)."""
    folder = run_dir / service / LOGS
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "autoexport.log").open("a", encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in lines)

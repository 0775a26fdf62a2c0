"""Export results in nemo-evaluator-launcher 0.2.6's shapes (``export --dest local|mlflow|wandb``).

Local (``--format json|csv``), as the launcher's ``LocalExporter`` writes them:

    <output_dir>/<invocation_id>/<job_id>/processed_results.<fmt>   one per job
    <output_dir>/processed_results.<fmt>                            all jobs, when more than one

``processed_results.json``::

    {"benchmarks": {<benchmark>: {"models": {<model_id>: [
        {"invocation_id", "job_id", "harness", "container", "scores": {<flat key>: value},
         "timestamp", "executor": "local", "results_dir"}]}}},
     "export_timestamp": "<iso>"}

``processed_results.csv``: ``Model Name, Harness, Task Name, Executor, Container, Invocation ID,
Job ID, Results Dir`` then one column per flattened score, sorted. Both files are upserts: an
existing file keeps its entries and a job already in it is skipped, as the launcher does.

``<benchmark>`` is nemo-evaluator's ``config.type`` (the task name without its harness), ``harness``
its ``framework_name``, ``results_dir`` the task's folder and ``timestamp`` the run's creation time
(epoch seconds). Score keys: see :mod:`composer.scores`.

MLflow and W&B follow the launcher's exporters (one run per job, same run names, tags and config
keys); they need ``pip install 'evalcompose[mlflow]'`` / ``'evalcompose[wandb]'``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError, EvalComposeError, PrerequisiteError
from .results import METRICS_FILE, RESULTS_FILE, RUN_CONFIG_FILE, TaskResult
from .scores import flat_scores

EXECUTOR = "local"
FORMATS = ("json", "csv", "mlflow", "wandb")
CSV_BASE_COLUMNS = ["Model Name", "Harness", "Task Name", "Executor", "Container", "Invocation ID", "Job ID",
                    "Results Dir"]
# what the launcher uploads to MLflow / W&B (REQUIRED_ARTIFACTS + OPTIONAL_ARTIFACTS of 0.2.6)
UPLOADED_ARTIFACTS = (RESULTS_FILE, METRICS_FILE, RUN_CONFIG_FILE, "metadata.yaml", "omni-info.json")
DEFAULT_EXPERIMENT = "evalcompose"


@dataclass
class ExportReport:
    exported: list[str] = field(default_factory=list)  # job ids
    skipped: list[str] = field(default_factory=list)  # already in the destination
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job id, why)
    written: list[str] = field(default_factory=list)  # files, run ids or URLs
    details: list[dict] = field(default_factory=list)  # per job, destination specific

    def to_dict(self) -> dict:
        return {"exported": self.exported, "skipped": self.skipped,
                "failed": [{"job_id": j, "reason": r} for j, r in self.failed], "written": self.written,
                "details": self.details}


@dataclass
class ExportRow:
    """The launcher's ``DataForExport``, for one job with scores."""

    result: TaskResult
    scores: dict[str, float]

    @property
    def timestamp(self) -> float:
        return run_timestamp(self.result)


def exportable(results: Iterable[TaskResult], log_metrics: Iterable[str] | None = None,
               report: ExportReport | None = None) -> list[ExportRow]:
    """The jobs that have scores; the others go to ``report.failed`` with the reason."""
    rows = []
    filters = list(log_metrics or [])
    for r in results:
        if RESULTS_FILE in r.missing:
            why = f"no {RESULTS_FILE} ({r.status}{': ' + '; '.join(r.notes) if r.notes else ''})"
        elif not r.scores:
            why = f"{RESULTS_FILE} holds no scores" + (f" ({'; '.join(r.notes)})" if r.notes else "")
        else:
            rows.append(ExportRow(r, flat_scores(r.scores, filters)))
            continue
        if report is not None:
            report.failed.append((r.job_id, why))
    return rows


def run_timestamp(r: TaskResult) -> float:
    """The run's creation time as epoch seconds (the launcher records its launch time)."""
    if r.created:
        try:
            return datetime.fromisoformat(r.created).timestamp()
        except ValueError:
            pass
    try:
        return Path(r.run_dir).stat().st_mtime
    except OSError:
        return 0.0


def json_entry(row: ExportRow) -> dict:
    r = row.result
    return {
        "invocation_id": r.invocation_id,
        "job_id": r.job_id,
        "harness": r.harness,
        "container": r.container,
        "scores": row.scores,
        "timestamp": row.timestamp,
        "executor": EXECUTOR,
        "results_dir": r.task_dir,
    }


def csv_row(row: ExportRow) -> dict:
    r = row.result
    out: dict[str, object] = {
        "Model Name": r.model_id,
        "Harness": r.harness,
        "Task Name": r.benchmark,
        "Executor": EXECUTOR,
        "Container": r.container,
        "Invocation ID": r.invocation_id,
        "Job ID": r.job_id,
        "Results Dir": r.task_dir,
    }
    out.update(row.scores)
    return out


# ---------------------------------------------------------------------------------------- local


def export_local(results: Iterable[TaskResult], fmt: str, output_dir: str | Path,
                 output_filename: str | None = None, log_metrics: Iterable[str] | None = None) -> ExportReport:
    """Write processed_results.json or .csv as the launcher does (per job, then all jobs together)."""
    if fmt not in ("json", "csv"):
        raise ConfigError("--format", f"unknown local format '{fmt}'", hint="json or csv")
    report = ExportReport()
    rows = exportable(results, log_metrics, report)
    out_dir = Path(output_dir)
    name = output_filename or f"processed_results.{fmt}"
    upsert = _json_upsert if fmt == "json" else _csv_upsert
    for row in rows:
        path = (out_dir / row.result.invocation_id / row.result.job_id / name).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        skipped = upsert(path, [row])
        (report.skipped if skipped else report.exported).append(row.result.job_id)
        report.written.append(str(path))
    if len(rows) > 1:
        path = (out_dir / name).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        upsert(path, rows)
        report.written.append(str(path))
    return report


def _json_upsert(path: Path, rows: list[ExportRow]) -> list[str]:
    merged = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"benchmarks": {}}
    merged["export_timestamp"] = datetime.now().isoformat()
    skipped = []
    for row in rows:
        models = merged["benchmarks"].setdefault(row.result.benchmark, {"models": {}})["models"]
        entries = models.setdefault(row.result.model_id, [])
        if any(e.get("job_id") == row.result.job_id for e in entries):
            skipped.append(row.result.job_id)
            continue
        entries.append(json_entry(row))
    path.write_text(json.dumps(merged, indent=2, ensure_ascii=False), encoding="utf-8")
    return skipped


def _csv_upsert(path: Path, rows: list[ExportRow]) -> list[str]:
    existing_rows: list[dict] = []
    existing_jobs: set[str] = set()
    fieldnames: set[str] = set(CSV_BASE_COLUMNS)
    if path.exists():
        with path.open("r", encoding="utf-8", newline="") as f:
            for old in csv.DictReader(f):
                existing_rows.append(old)
                existing_jobs.add(old.get("Job ID") or "")
                fieldnames.update(old.keys())
    skipped: list[str] = []
    new_rows: list[dict] = []
    metric_names: set[str] = set()
    for row in rows:
        if row.result.job_id in existing_jobs:
            skipped.append(row.result.job_id)
            continue
        new_rows.append(csv_row(row))
        metric_names.update(row.scores)
    columns = CSV_BASE_COLUMNS + sorted((fieldnames | metric_names) - set(CSV_BASE_COLUMNS))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for r in existing_rows + new_rows:
            writer.writerow(r)
    return skipped


# ---------------------------------------------------------------------------------------- MLflow


def mlflow_sanitize(s, kind: str = "key") -> str:
    """The launcher's sanitizer: keys keep ``/ \\w . - space``, values are one line and length-capped."""
    import re

    s = "" if s is None else str(s)
    if kind in ("key", "metric", "tag_key", "param_key"):
        s = s.replace("pass@", "pass_at_")
        s = re.sub(r"[^/\w.\- ]", "_", s)
        s = re.sub(r"_+", "_", s).strip()
        return s[:250] or "key"
    s = s.replace("\n", " ").replace("\r", " ").strip()
    return s[:5000] if kind == "tag_value" else s[:250]


def export_mlflow(results: Iterable[TaskResult], tracking_uri: str | None = None,
                  experiment: str = DEFAULT_EXPERIMENT, log_metrics: Iterable[str] | None = None,
                  skip_existing: bool = False, copy_artifacts: bool = True) -> ExportReport:
    """One MLflow run per job (tag ``job_id``; an existing run gets the metrics again, as in the launcher).

    Params: invocation_id, job_id, task, benchmark, harness, model_id, container, executor, timestamp,
    results_dir. Tags: the launcher's (invocation_id, job_id, task_name, benchmark, harness, executor)
    plus model_id. Metrics: the flattened scores. Artifacts: results.yml, eval_factory_metrics.json,
    run_config.yml under ``<harness>.<benchmark>/artifacts`` and the run's config.yaml.
    A ``file:`` URI or a plain folder selects MLflow's file store (allowed for this call).
    """
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise PrerequisiteError("MLflow export needs the mlflow package",
                                hint="pip install 'evalcompose[mlflow]'") from None
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ConfigError("--tracking-uri", "MLflow needs a tracking URI",
                          hint="pass --tracking-uri (http://host:5000, file:/path, a folder) or set MLFLOW_TRACKING_URI")
    if "://" not in uri and not uri.startswith("file:"):
        uri = Path(uri).expanduser().resolve().as_uri()
    report = ExportReport()
    rows = exportable(results, log_metrics, report)
    defaults = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}  # MLflow's own default retries for ~4 minutes
    if uri.startswith("file:"):
        defaults["MLFLOW_ALLOW_FILE_STORE"] = "true"  # the user asked for a file store by name
    with _env_defaults(defaults):
        client = MlflowClient(tracking_uri=uri.rstrip("/"))
        try:
            exp = client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EvalComposeError(f"MLflow at {_redact(uri)}: {_redact(first)[:300]}",
                                   hint="is the tracking server up? check --tracking-uri / MLFLOW_TRACKING_URI") from None
        for row in rows:
            r = row.result
            try:
                found = client.search_runs([exp_id], filter_string=f"tags.job_id = '{r.job_id}'", max_results=1)
                run_id = found[0].info.run_id if found else None
                if run_id and skip_existing:
                    report.skipped.append(r.job_id)
                    continue
                raw_tags = {"invocation_id": r.invocation_id, "job_id": r.job_id, "task_name": r.benchmark,
                        "benchmark": r.benchmark, "harness": r.harness, "executor": EXECUTOR, "model_id": r.model_id}
                tags = {mlflow_sanitize(k, "tag_key"): mlflow_sanitize(v, "tag_value")
                        for k, v in raw_tags.items() if v is not None}
                raw_params = {"invocation_id": r.invocation_id, "job_id": r.job_id, "task": r.task,
                          "benchmark": r.benchmark, "harness": r.harness, "model_id": r.model_id,
                          "container": r.container, "executor": EXECUTOR, "timestamp": str(row.timestamp),
                          "results_dir": r.task_dir}
                params = {mlflow_sanitize(k, "param_key"): mlflow_sanitize(v, "param_value")
                          for k, v in raw_params.items() if v is not None}
                run_name = mlflow_sanitize(f"eval-{r.invocation_id}-{r.benchmark}", "tag_value")
                if run_id is None:
                    run_id = client.create_run(exp_id, run_name=run_name).info.run_id
                    param_list = [Param(k, v) for k, v in params.items()]
                else:
                    param_list = []  # MLflow forbids changing a param; the launcher skips them too
                now = int(datetime.now().timestamp() * 1000)
                client.log_batch(
                    run_id,
                    metrics=[Metric(mlflow_sanitize(k, "metric"), float(v), now, 0) for k, v in row.scores.items()],
                    params=param_list,
                    tags=[RunTag(k, v) for k, v in tags.items()] + [RunTag("mlflow.runName", run_name)],
                )
                if copy_artifacts:
                    prefix = f"{r.harness}.{r.benchmark}/artifacts"
                    for name in UPLOADED_ARTIFACTS:
                        p = r.artifacts_dir / name
                        if p.is_file():
                            client.log_artifact(run_id, str(p), artifact_path=prefix)
                    cfg = Path(r.run_dir) / "config.yaml"
                    if cfg.is_file():
                        client.log_artifact(run_id, str(cfg))
                client.set_terminated(run_id)
            except Exception as exc:  # one job's failure must not hide the others
                report.failed.append((r.job_id, f"MLflow: {type(exc).__name__}: {exc}"))
                continue
            report.exported.append(r.job_id)
            report.written.append(f"{r.job_id}: run {run_id} (experiment '{experiment}', {_redact(uri)})")
            report.details.append({"job_id": r.job_id, "run_id": run_id, "experiment_id": exp_id,
                                   "tracking_uri": _redact(uri)})
    return report


def _redact(text: str) -> str:
    """Drop ``user:password@`` from URLs: messages never carry credentials."""
    import re

    return re.sub(r"(\w+://)[^/@\s]+@", r"\1", text)


@contextmanager
def _env_defaults(values: dict[str, str]):
    """Set environment variables the user has not set, for the duration of the block."""
    added = [k for k in values if k not in os.environ]
    for k in added:
        os.environ[k] = values[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


# ---------------------------------------------------------------------------------------- W&B


def export_wandb(results: Iterable[TaskResult], project: str | None = None, entity: str | None = None,
                 log_metrics: Iterable[str] | None = None, directory: str | Path | None = None,
                 copy_artifacts: bool = True) -> ExportReport:
    """One W&B run per job, as the launcher's ``log_mode: per_task``.

    Run name ``eval-<invocation>-<benchmark>``, group = invocation, job_type ``evaluation``, config
    {invocation_id, executor, job_id, harness, benchmark, results_dir, model_id}, metrics logged at
    step = job index and put in the summary, artifacts as an ``evaluation_result`` artifact.
    ``WANDB_MODE=offline`` keeps everything on disk (under ``directory`` when given).
    """
    try:
        import wandb
    except ImportError:
        raise PrerequisiteError("W&B export needs the wandb package", hint="pip install 'evalcompose[wandb]'") from None
    project = project or os.environ.get("WANDB_PROJECT")
    entity = entity or os.environ.get("WANDB_ENTITY")
    if not project:
        raise ConfigError("--wandb-project", "W&B needs a project", hint="pass --wandb-project or set WANDB_PROJECT")
    report = ExportReport()
    rows = exportable(results, log_metrics, report)
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
    for row in rows:
        r = row.result
        if not row.scores:
            report.skipped.append(r.job_id)
            continue
        config = {"invocation_id": r.invocation_id, "executor": EXECUTOR, "job_id": r.job_id, "harness": r.harness,
                  "benchmark": r.benchmark, "results_dir": r.task_dir, "model_id": r.model_id}
        args: dict[str, Any] = {"entity": entity, "project": project, "name": f"eval-{r.invocation_id}-{r.benchmark}",
                "group": r.invocation_id, "job_type": "evaluation", "config": config,
                "dir": str(directory) if directory is not None else None}
        try:
            run = wandb.init(**{k: v for k, v in args.items() if v is not None})
            try:
                if copy_artifacts:
                    art = wandb.Artifact(name=f"{r.invocation_id}_{r.benchmark}", type="evaluation_result",
                                         description="Evaluation results",
                                         metadata={"invocation_id": r.invocation_id, "task": r.benchmark,
                                                   "benchmark": r.benchmark, "harness": r.harness})
                    for name in UPLOADED_ARTIFACTS:
                        p = r.artifacts_dir / name
                        if p.is_file():
                            art.add_file(str(p), name=f"{r.harness}.{r.benchmark}/artifacts/{name}")
                    run.log_artifact(art)
                for key in row.scores:
                    run.define_metric(key, summary="last")
                run.log(dict(row.scores), step=r.index)
                run.summary.update(dict(row.scores))
                detail = {"job_id": r.job_id, "run_id": run.id, "name": run.name, "url": run.url,
                          "dir": run.dir, "config": dict(run.config), "summary": dict(row.scores)}
            finally:
                run.finish()
        except EvalComposeError:
            raise
        except Exception as exc:
            report.failed.append((r.job_id, f"W&B: {type(exc).__name__}: {exc}"))
            continue
        report.exported.append(r.job_id)
        report.written.append(f"{r.job_id}: {detail['url'] or detail['dir']}")
        report.details.append(detail)
    return report

"""What the task containers wrote, read back as typed rows: scores, request figures, run time.

Pure file reading (no Docker). Per task of a run folder it reads ``<service>/artifacts/``:

    results.yml                 scores: results.{tasks,groups}.<name>.metrics.<metric>.scores.<score>
                                .{value, stats{count, stderr, ...}}; groups may nest (``groups:`` inside a group)
    eval_factory_metrics.json   response_stats (requests, latency, tokens, status codes) and evaluation
                                (runtime_seconds, which nemo-evaluator measures around the scoring step
                                only: a few milliseconds for a run that took seconds)
    run_config.yml              what nemo-evaluator ran: config.type (the benchmark), framework_name,
                                target.api_endpoint.model_id
    .nemo_evaluator_interrupted written on SIGTERM

and ``<service>/logs/stdout.log``, whose first and last timestamps give the wall time of the task
(``elapsed_seconds``; when the log has none, the request window from response_stats is used).

Each task gets a status: ``complete`` (scores and request stats, not interrupted), ``missing``
(neither results.yml nor eval_factory_metrics.json) or ``partial`` (anything in between); ``missing``
lists the absent files and ``notes`` says why, so nothing incomplete passes for a result.

Scores are extracted and keyed by :mod:`composer.scores`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from .layout import ARTIFACTS, INTERRUPTED_MARKER, KILLED_MARKER, LOGS, STATE_DIR
from .runmeta import TaskMeta
from .scores import Score, as_dict, as_float, as_int, extract_scores, flat_scores
from .states import ResultStatus
from .status import read_progress
from .workspace import RunInfo, find_run

RESULTS_FILE = "results.yml"
METRICS_FILE = "eval_factory_metrics.json"
RUN_CONFIG_FILE = "run_config.yml"
REPORT_FILE = "report.html"
STDOUT_LOG = "stdout.log"
REQUIRED_FILES = (RESULTS_FILE, METRICS_FILE)

COMPLETE, PARTIAL, MISSING = ResultStatus.COMPLETE, ResultStatus.PARTIAL, ResultStatus.MISSING

_LOG_TS = re.compile(r"^\[[A-Z] (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\]")


@dataclass
class Usage:
    """Request figures from eval_factory_metrics.json ``response_stats`` (None when not reported)."""

    requests: int | None = None  # every request sent, retries included
    successful: int | None = None
    avg_latency_ms: float | None = None
    max_latency_ms: float | None = None
    avg_prompt_tokens: float | None = None
    avg_completion_tokens: float | None = None
    avg_total_tokens: float | None = None
    max_total_tokens: int | None = None
    total_tokens_est: int | None = None  # avg_total_tokens x successful: an estimate, not a count
    inference_seconds: float | None = None
    status_codes: dict[str, int] = field(default_factory=dict)
    finish_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int | None:
        if self.requests is None or self.successful is None:
            return None
        return self.requests - self.successful


@dataclass
class TaskResult:
    """Everything evalcompose knows about one task's results."""

    invocation_id: str
    job_id: str
    index: int
    service: str
    task: str  # harness.task, as in the config
    benchmark: str  # nemo-evaluator's config.type (the launcher's "task" in exports)
    harness: str | None
    model_id: str | None
    container: str | None
    endpoint_type: str | None
    run_dir: str
    task_dir: str
    status: ResultStatus
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    usage: Usage | None = None
    runtime_seconds: float | None = None  # eval_factory_metrics evaluation.runtime_seconds, as reported
    elapsed_seconds: float | None = None  # wall time of the task (see elapsed_source)
    elapsed_source: str | None = None  # "log" (stdout.log timestamps) or "requests" (response_stats)
    started: str | None = None
    finished: str | None = None
    progress: str | None = None  # done/total samples, when the harness reports it
    report_html: str | None = None
    created: str | None = None  # when the run folder was written

    @property
    def artifacts_dir(self) -> Path:
        return Path(self.task_dir) / ARTIFACTS

    def flat_scores(self) -> dict[str, float]:
        return flat_scores(self.scores)

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.usage is not None:
            out["usage"]["failed"] = self.usage.failed
        return out


@dataclass
class RunResults:
    invocation_id: str
    run_dir: str
    created: str | None
    model: dict | None
    tasks: list[TaskResult]

    @property
    def model_ids(self) -> list[str]:
        return sorted({t.model_id for t in self.tasks if t.model_id})

    def to_dict(self) -> dict:
        return {"invocation_id": self.invocation_id, "run_dir": self.run_dir, "created": self.created,
                "model": self.model, "tasks": [t.to_dict() for t in self.tasks]}


# ---------------------------------------------------------------------------------------- reading


def load_results(refs: Iterable[str]) -> list[RunResults]:
    """Results of each reference (invocation id, prefix, job id or run folder), in the order given.

    A job id keeps only that job; the same invocation named twice is read once.
    :class:`~composer.errors.RunNotFound` when a reference matches nothing.
    """
    picked: dict[str, tuple[RunInfo, set[str] | None]] = {}
    for ref in refs:
        run, service = find_run(ref, allow_folder=True)
        have = picked.get(run.invocation_id)
        services = None if service is None else {service}
        if have is None:
            picked[run.invocation_id] = (run, services)
        elif have[1] is not None:
            picked[run.invocation_id] = (run, None if services is None else have[1] | services)
    return [read_results(run, services) for run, services in picked.values()]


def read_results(run: RunInfo, services: set[str] | None = None) -> RunResults:
    """Results of every task of ``run`` (or only of ``services``)."""
    tasks = [read_task(run, t) for t in run.tasks if services is None or t.service in services]
    model = run.model.model_dump(mode="json") if run.model else None
    return RunResults(run.invocation_id, str(run.run_dir), run.meta.created, model, tasks)


def read_task(run: RunInfo, task: TaskMeta) -> TaskResult:
    task_dir = run.task_dir(task)
    artifacts = task_dir / ARTIFACTS
    res_path, met_path = artifacts / RESULTS_FILE, artifacts / METRICS_FILE
    notes: list[str] = []
    missing = [name for name in REQUIRED_FILES if not (artifacts / name).is_file()]

    results_doc = _load_yaml(res_path, notes) if res_path.is_file() else None
    run_config = _load_yaml(artifacts / RUN_CONFIG_FILE, notes) if (artifacts / RUN_CONFIG_FILE).is_file() else None
    metrics_doc = _load_json(met_path, notes) if met_path.is_file() else None

    scores: list[Score] = []
    if isinstance(results_doc, dict):
        section = results_doc.get("results")
        if isinstance(section, dict):
            scores = extract_scores(section, notes)
        else:
            notes.append(f"{RESULTS_FILE} has no results section")
        if not scores and isinstance(section, dict):
            notes.append(f"{RESULTS_FILE} holds no scores")

    usage, runtime, request_window, total_runs = _usage(metrics_doc)
    started, finished, elapsed = _log_window(task_dir / LOGS / STDOUT_LOG)
    source = "log" if elapsed is not None else None
    if elapsed is None and request_window is not None:
        elapsed, source = request_window, "requests"
    if total_runs and total_runs > 1:
        notes.append(f"ran {total_runs} times (resumed): figures are merged, elapsed time spans all runs")

    interrupted_marker = artifacts / INTERRUPTED_MARKER
    interrupted = interrupted_marker.exists() and (
        not res_path.is_file() or interrupted_marker.stat().st_mtime >= res_path.stat().st_mtime)
    killed = (run.run_dir / STATE_DIR / KILLED_MARKER).exists() or (task_dir / LOGS / KILLED_MARKER).exists()
    if interrupted:
        notes.append(f"interrupted ({INTERRUPTED_MARKER}{_signal_of(interrupted_marker)})")
    if killed and (interrupted or missing):
        notes.append("stopped by evalcompose kill")

    if len(missing) == len(REQUIRED_FILES):
        status = MISSING
        if not artifacts.is_dir():
            notes.append(f"no {ARTIFACTS}/ folder")
        if not (task_dir / LOGS / STDOUT_LOG).is_file():
            notes.append("never started (no logs/stdout.log)")
        else:
            notes.append(f"started but wrote no results: see {task_dir / LOGS / STDOUT_LOG}")
    elif scores and not missing and not interrupted:
        status = COMPLETE
    else:
        status = PARTIAL

    report = artifacts / REPORT_FILE
    task_name = task.task or task.service
    cfg = run_config if isinstance(run_config, dict) else {}
    res_cfg = results_doc.get("config", {}) if isinstance(results_doc, dict) else {}
    return TaskResult(
        invocation_id=run.invocation_id,
        job_id=task.job_id,
        index=task.index,
        service=task.service,
        task=task_name,
        benchmark=_first(_dig(cfg, "config", "type"), _dig(res_cfg, "type"), task_name.split(".", 1)[-1]),
        harness=_first(cfg.get("framework_name"), task.harness),
        model_id=_first(_dig(cfg, "target", "api_endpoint", "model_id"),
                        _dig(results_doc, "target", "api_endpoint", "model_id"), task.model_id),
        container=task.image,
        endpoint_type=task.endpoint_type,
        run_dir=str(run.run_dir),
        task_dir=str(task_dir),
        status=status,
        missing=missing,
        notes=notes,
        scores=scores,
        usage=usage,
        runtime_seconds=runtime,
        elapsed_seconds=elapsed,
        elapsed_source=source,
        started=started,
        finished=finished,
        progress=read_progress(artifacts),
        report_html=str(report) if report.is_file() else None,
        created=run.meta.created,
    )


# ---------------------------------------------------------------------------------------- figures


def _usage(doc) -> tuple[Usage | None, float | None, float | None, int | None]:
    """(usage, evaluation.runtime_seconds, request window in seconds, total runs)."""
    if not isinstance(doc, dict):
        return None, None, None, None
    rs = as_dict(doc.get("response_stats"))
    ev = as_dict(doc.get("evaluation"))
    usage = None
    if rs:
        usage = Usage(
            requests=as_int(rs.get("count")), successful=as_int(rs.get("successful_count")),
            avg_latency_ms=as_float(rs.get("avg_latency_ms")), max_latency_ms=as_float(rs.get("max_latency_ms")),
            avg_prompt_tokens=as_float(rs.get("avg_prompt_tokens")),
            avg_completion_tokens=as_float(rs.get("avg_completion_tokens")),
            avg_total_tokens=as_float(rs.get("avg_total_tokens")), max_total_tokens=as_int(rs.get("max_total_tokens")),
            inference_seconds=as_float(rs.get("inference_time")),
            status_codes={str(k): int(v) for k, v in (rs.get("status_codes") or {}).items()},
            finish_reasons={str(k): int(v) for k, v in (rs.get("finish_reason") or {}).items()},
        )
        if usage.avg_total_tokens is not None and usage.successful is not None:
            usage.total_tokens_est = round(usage.avg_total_tokens * usage.successful)
    window = None
    runs = as_dict(rs.get("inference_run_times"))
    spans = []
    for entry in runs.values():
        start, end = _ts(_dig(entry, "run_start")), _ts(_dig(entry, "last_request_time"))
        if start and end and end >= start:
            spans.append((end - start).total_seconds())
    if spans:
        window = round(sum(spans), 3)
    total_runs = as_int(ev.get("total_runs")) or (len(runs) if runs else None)
    return usage, as_float(ev.get("runtime_seconds")), window, total_runs


def _log_window(log: Path) -> tuple[str | None, str | None, float | None]:
    """First and last nemo-evaluator timestamps of a task log, and the seconds between them."""
    if not log.is_file():
        return None, None, None
    first = last = None
    try:
        with log.open("rb") as f:
            for _ in range(2000):
                raw = f.readline()
                if not raw:
                    break
                m = _LOG_TS.match(raw.decode("utf-8", "replace"))
                if m:
                    first = m.group(1)
                    break
            size = f.seek(0, 2)
            f.seek(max(0, size - 256 * 1024))
            for line in f.read().decode("utf-8", "replace").splitlines():
                m = _LOG_TS.match(line)
                if m:
                    last = m.group(1)
    except OSError:
        return None, None, None
    a, b = _ts(first), _ts(last)
    if not a or not b or b < a:
        return first, last, None
    return first, last, round((b - a).total_seconds(), 3)


def _signal_of(marker: Path) -> str:
    try:
        sig = json.loads(marker.read_text(encoding="utf-8")).get("signal")
        return f", {sig}" if sig else ""
    except (OSError, ValueError, AttributeError):
        return ""


# ---------------------------------------------------------------------------------------- helpers


def _load_yaml(path: Path, notes: list[str]):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        notes.append(f"cannot read {path.name}: {type(exc).__name__}")
        return None


def _load_json(path: Path, notes: list[str]):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"cannot read {path.name}: {type(exc).__name__}")
        return None


def _dig(doc, *keys):
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _first(*values):
    for v in values:
        if v not in (None, ""):
            return v
    return None


def _ts(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return None

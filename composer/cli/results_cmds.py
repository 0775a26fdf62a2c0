"""``evalcompose results``, ``evalcompose export`` and ``evalcompose report``: read what the tasks wrote.

:func:`print_results` is also what an attached ``up`` prints at the end.
"""

from __future__ import annotations

import json
from typing import Iterable, List, Optional

import typer

from .app import app

_IDS = typer.Argument(..., help="Invocation ids, job ids (<invocation>.<n>), unique prefixes or run folders.")


@app.command()
def results(
    ids: List[str] = _IDS,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON list (one object per run)."),
) -> None:
    """Scores, request figures and run time of each task; missing or partial results are named."""
    from ..results import load_results

    runs = load_results(ids)
    if json_out:
        typer.echo(json.dumps([r.to_dict() for r in runs], indent=2))
        return
    from rich.console import Console

    print_results(runs, Console())


def print_results(runs: Iterable, console) -> None:
    """Per run: a table of task x metric scores, a table of requests/latency/tokens/time, then what is
    incomplete (missing files and why).

    ``runs`` holds :class:`~composer.workspace.RunInfo` (read here) or already read
    :class:`~composer.results.RunResults`.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..results import COMPLETE, MISSING, RunResults, read_results
    from ..scores import headline_scores

    style = {COMPLETE: "green", MISSING: "red"}
    for run in runs:
        res = run if isinstance(run, RunResults) else read_results(run)
        models = ", ".join(res.model_ids) or ((res.model or {}).get("served_model_name") or "?")
        console.print(Text(f"invocation {res.invocation_id} · model {models}", style="bold"))
        console.print(Text(res.run_dir, style="dim"))
        scores = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        scores.add_column("Task", min_width=12, overflow="fold")
        scores.add_column("Metric", min_width=12, overflow="fold")
        scores.add_column("Score", justify="right", no_wrap=True)
        scores.add_column("±stderr", justify="right", no_wrap=True)
        scores.add_column("n", justify="right", no_wrap=True)
        figures = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        figures.add_column("Task", min_width=12, overflow="fold")
        figures.add_column("Status", no_wrap=True)
        figures.add_column("Requests\nok/sent", justify="right", no_wrap=True)
        figures.add_column("Latency\navg", justify="right", no_wrap=True)
        figures.add_column("Tokens\nin/out", justify="right", no_wrap=True)
        figures.add_column("Elapsed", justify="right", no_wrap=True)
        for t in res.tasks:
            label = f".{t.index} {t.benchmark}"
            status = Text(t.status, style=style.get(t.status, "yellow"))
            shown = headline_scores(t.scores)
            if not shown:
                why = f"missing {', '.join(t.missing)}" if t.missing else "no scores"
                scores.add_row(label, Text(why, style="red" if t.status == MISSING else "yellow"), "—", "", "")
            for i, sc in enumerate(shown):
                metric = sc.metric if sc.metric == sc.score else f"{sc.metric}.{sc.score}"
                if sc.name != t.benchmark:
                    metric = f"{sc.name}: {metric}"
                scores.add_row(label if i == 0 else "", metric, f"{sc.value:.4g}",
                               "" if sc.stderr is None else f"{sc.stderr:.2g}", "" if sc.count is None else str(sc.count))
            u = t.usage
            req = "—" if not u or u.requests is None else f"{u.successful}/{u.requests}"
            lat = "—" if not u or u.avg_latency_ms is None else f"{u.avg_latency_ms:.0f} ms"
            tok = "—" if not u or u.avg_prompt_tokens is None else \
                f"{u.avg_prompt_tokens:.0f}/{u.avg_completion_tokens or 0:.0f}"
            elapsed = "—" if t.elapsed_seconds is None else f"{t.elapsed_seconds:.1f} s"
            figures.add_row(label, status, req, lat, tok, elapsed)
        console.print(scores)
        console.print(figures)
        for t in res.tasks:
            if t.status == COMPLETE:
                continue
            what = [f"missing {', '.join(t.missing)}"] if t.missing else []
            progress = [f"progress {t.progress}"] if t.progress else []
            console.print(Text(f"{t.job_id} {t.task}: {t.status} — " + "; ".join(what + t.notes + progress),
                               style=style.get(t.status, "yellow")))
        console.print()


@app.command()
def export(
    ids: List[str] = _IDS,
    format: Optional[str] = typer.Option(None, "--format", "-f", help="json | csv (files) | mlflow | wandb (default: the config's export: destinations, else json)."),
    dest: Optional[str] = typer.Option(None, "--dest", help="The launcher's spelling: local (with --format json|csv), mlflow or wandb."),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", help="Where json/csv files go (default: ./evalcompose-results); W&B: its local folder."),
    output_filename: Optional[str] = typer.Option(None, "--output-filename", help="Instead of processed_results.<format>."),
    log_metrics: Optional[List[str]] = typer.Option(None, "--log-metrics", help="Keep only score keys containing this (repeatable)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI or folder (default: $MLFLOW_TRACKING_URI)."),
    experiment: str = typer.Option("evalcompose", "--experiment", help="MLflow experiment name."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="MLflow: leave jobs that already have a run alone."),
    wandb_project: Optional[str] = typer.Option(None, "--wandb-project", help="W&B project (default: $WANDB_PROJECT)."),
    wandb_entity: Optional[str] = typer.Option(None, "--wandb-entity", help="W&B entity (default: $WANDB_ENTITY)."),
    no_artifacts: bool = typer.Option(False, "--no-artifacts", help="MLflow/W&B: log scores only, no result files."),
    json_out: bool = typer.Option(False, "--json", help="Print what was exported as JSON."),
) -> None:
    """Export results in nemo-evaluator-launcher's shapes: processed_results.json/.csv, MLflow or W&B."""
    import sys

    from ..errors import ConfigError, EvalComposeError
    from ..export import export_local, export_mlflow, export_wandb
    from ..results import load_results

    if format is None and dest is None:
        from pathlib import Path

        from ..autoexport import configured, export_results, run_config

        runs = load_results(ids)
        if all(configured(run_config(Path(r.run_dir))) for r in runs):  # the config's export: section
            for r in runs:
                for line in export_results(Path(r.run_dir), r.tasks, configured(run_config(Path(r.run_dir)))):
                    typer.echo(line)
            return
    fmt = (format or "json").lower()
    if dest is not None:
        d = dest.lower()
        if d in ("mlflow", "wandb"):
            if format is not None and fmt != d:
                raise ConfigError("--dest", f"--dest {d} does not take --format {format}")
            fmt = d
        elif d != "local":
            raise ConfigError("--dest", f"unknown destination '{dest}'", hint="local, mlflow or wandb")
    if fmt not in ("json", "csv", "mlflow", "wandb"):
        raise ConfigError("--format", f"unknown format '{format}'", hint="json, csv, mlflow or wandb")
    tasks = [t for run in load_results(ids) for t in run.tasks]
    if fmt in ("json", "csv"):
        report = export_local(tasks, fmt, output_dir or "evalcompose-results", output_filename, log_metrics)
    elif fmt == "mlflow":
        report = export_mlflow(tasks, tracking_uri, experiment, log_metrics, skip_existing, not no_artifacts)
    else:
        report = export_wandb(tasks, wandb_project, wandb_entity, log_metrics, output_dir, not no_artifacts)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    elif report.exported or report.skipped:
        where = {"json": "files", "csv": "files", "mlflow": "MLflow runs", "wandb": "W&B runs"}[fmt]
        typer.echo(f"exported {len(report.exported)} job(s)" +
                   (f", {len(report.skipped)} already there" if report.skipped else "") + f" ({where}):")
        for item in report.written:
            typer.echo(f"  {item}")
    for job, why in report.failed:
        print(f"not exported: {job}: {why}", file=sys.stderr)
    if not report.exported and not report.skipped:
        no_scores = all(why.startswith(("no results.yml", "results.yml")) for _, why in report.failed)
        raise EvalComposeError("nothing exported: " + ("no task of these runs has scores" if no_scores
                                                       else f"{len(report.failed)} job(s) failed (see above)"),
                               hint="see: evalcompose results " + " ".join(ids))


@app.command()
def report(
    ids: List[str] = _IDS,
    output: str = typer.Option("evalcompose-report.html", "-o", "--output", help="The HTML file to write."),
    title: str = typer.Option("evalcompose report", "--title", help="Page title."),
) -> None:
    """One self-contained HTML page comparing the runs: scores, charts, latency, tokens, links."""
    from ..report import write_report
    from ..results import load_results

    path = write_report(load_results(ids), output, title)
    typer.echo(f"wrote {path}  ({path.resolve().as_uri()})")


@app.command(name="_autoexport", hidden=True)
def autoexport_task(run_dir: str = typer.Argument(...), service: str = typer.Argument(...)) -> None:
    """Hidden: the scheduler's auto_export hook for one task that has just exited."""
    from pathlib import Path

    from ..autoexport import export_task
    from ..control import status
    from ..workspace import read_run

    folder = Path(run_dir)
    job = next((j for j in status(read_run(folder)).jobs if j.service == service), None)
    for line in export_task(folder, service, job.state if job else "MISSING"):
        typer.echo(line)

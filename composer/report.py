"""One self-contained HTML page comparing runs and models (``evalcompose report``).

The page is the jinja2 template ``compose-templates/report/report.html.j2`` (autoescaped), with
inline CSS (``compose-templates/report/report.css``) and inline SVG charts: no script, no web font,
no request to the network, so the page opens from disk, from a CI artifact or from an e-mail.
Sections: runs (one colour each), incomplete tasks named with what is missing, a scores table
(task x metric, one column per run), a bar chart per task (runs side by side, stderr whiskers),
request/latency/token figures with a latency chart, and links to each task's own ``report.html``
and log (relative to the page when it is written to a file, ``file://`` otherwise).
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from pathlib import Path

from .layout import LOGS
from .report_charts import bar_chart, fmt_number, latency_chart
from .results import COMPLETE, STDOUT_LOG, RunResults, TaskResult
from .scores import Score, headline_scores

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D31", "#404040"]


class _Series:
    """One run as a column / bar colour."""

    def __init__(self, run: RunResults, colour: str, label: str):
        self.run, self.colour, self.label = run, colour, label
        self.by_task = {t.task: t for t in run.tasks}


def _series(runs: list[RunResults]) -> list[_Series]:
    models = [", ".join(r.model_ids) or (r.model or {}).get("served_model_name") or "?" for r in runs]
    out = []
    for i, (run, model) in enumerate(zip(runs, models, strict=True)):
        label = f"{model} · {run.invocation_id[:8]}" if models.count(model) > 1 or len(runs) == 1 else model
        out.append(_Series(run, PALETTE[i % len(PALETTE)], label))
    return out


def render_report(runs: list[RunResults], out_path: Path | None = None, title: str = "evalcompose report") -> str:
    """The HTML page. Links are relative to ``out_path``'s folder when given."""
    from markupsafe import Markup

    series = _series(runs)
    base = Path(out_path).resolve().parent if out_path else None
    tasks = _task_order(runs)
    lat_groups: list[tuple[str, list]] = []
    context = {
        "title": title, "series": series, "tasks": tasks,
        "n_models": len({m for r in runs for m in r.model_ids}),
        "generated": datetime.now().isoformat(timespec="seconds"),
        "runs": _runs_rows(series, base), "problems": _problem_rows(series), "scores": _score_table(series, tasks),
        "charts": [{"task": task, "svg": Markup(svg)} for task, svg in _charts(series, tasks)],
        "usage": _usage_rows(series, tasks, lat_groups),
        "links": _link_rows(series, tasks, base),
    }
    context["latency_chart"] = Markup(latency_chart(lat_groups)) if lat_groups else None
    return _environment().get_template("report.html.j2").render(context)


@cache
def _environment():
    """The jinja2 environment of the report template, autoescaping everything."""
    import jinja2

    from .templates import templates_dir

    return jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir() / "report"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def write_report(runs: list[RunResults], out_path: str | Path, title: str = "evalcompose report") -> Path:
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(runs, path, title), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------- sections (data for the template)


def _task_order(runs: list[RunResults]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        for t in run.tasks:
            seen.setdefault(t.task, None)
    return list(seen)


def _runs_rows(series: list[_Series], base: Path | None) -> list[dict]:
    rows = []
    for s in series:
        r = s.run
        counts: dict[str, int] = {}
        for t in r.tasks:
            counts[t.status] = counts.get(t.status, 0) + 1
        rows.append({"series": s, "invocation_id": r.invocation_id, "models": ", ".join(r.model_ids),
                     "created": r.created, "counts": sorted(counts.items()),
                     "folder": _link(Path(r.run_dir), base, "run folder")})
    return rows


def _problem_rows(series: list[_Series]) -> list[dict]:
    rows = []
    for s in series:
        for t in s.run.tasks:
            if t.status == COMPLETE:
                continue
            what = f"missing {', '.join(t.missing)}" if t.missing else ""
            rows.append({"series": s, "job_id": t.job_id, "task": t.task, "status": t.status,
                         "detail": "; ".join(x for x in [what, *t.notes] if x), "progress": t.progress})
    return rows


def _score_rows(series: list[_Series], tasks: list[str]) -> list[tuple[str, tuple[str, str, str], str]]:
    """(task, (name, metric, score), label) for every score shown, in a stable order."""
    rows: list[tuple[str, tuple[str, str, str], str]] = []
    for task in tasks:
        seen: dict[tuple[str, str, str], str] = {}
        for s in series:
            t = s.by_task.get(task)
            for sc in headline_scores(t.scores) if t else []:
                ident = (sc.name, sc.metric, sc.score)
                if ident not in seen:
                    short = t.benchmark if t else ""
                    prefix = "" if sc.name == short else f"{sc.name} · "
                    seen[ident] = f"{prefix}{sc.metric} · {sc.score}" if sc.metric != sc.score else f"{prefix}{sc.metric}"
        rows += [(task, ident, label) for ident, label in seen.items()]
    return rows


def _find(t: TaskResult | None, ident: tuple[str, str, str]) -> Score | None:
    if t is None:
        return None
    for sc in headline_scores(t.scores):
        if (sc.name, sc.metric, sc.score) == ident:
            return sc
    return None


def _score_table(series: list[_Series], tasks: list[str]) -> list[dict]:
    """One row per (task, metric): a cell per run, the best value marked when runs differ."""
    rows = []
    for task, ident, label in _score_rows(series, tasks):
        found = [_find(s.by_task.get(task), ident) for s in series]
        values = [f.value for f in found if f is not None and f.value is not None]
        best = max(values) if len(values) > 1 else None
        cells: list[dict[str, object]] = []
        for s, sc in zip(series, found, strict=True):
            t = s.by_task.get(task)
            if sc is None or sc.value is None:
                cells.append({"value": None, "short": "not run" if t is None else t.status,
                              "why": "not in this run" if t is None else _why(t)})
                continue
            cells.append({"value": fmt_number(sc.value), "key": sc.key, "best": best is not None and sc.value == best,
                          "stderr": None if sc.stderr is None else fmt_number(sc.stderr), "count": sc.count})
        rows.append({"task": task, "label": label, "cells": cells})
    return rows


def _charts(series: list[_Series], tasks: list[str]) -> list[tuple[str, str]]:
    """(task, SVG) for every task with at least one score."""
    rows = _score_rows(series, tasks)
    out = []
    for task in tasks:
        groups = []
        for t_name, ident, label in rows:
            if t_name != task:
                continue
            bars: list[tuple[_Series, float | None, object]] = []
            for s in series:
                t = s.by_task.get(task)
                sc = _find(t, ident)
                if sc is not None and sc.value is not None:
                    bars.append((s, sc.value, sc.stderr))
                elif t is not None:
                    bars.append((s, None, _why(t)))
            groups.append((label, bars))
        if any(v is not None for _, bars in groups for _, v, _ in bars):
            out.append((task, bar_chart(task, groups)))
    return out


def _usage_rows(series: list[_Series], tasks: list[str], lat_groups: list[tuple[str, list]]) -> list[dict]:
    """One row per (task, run) of request figures; fills ``lat_groups`` for the latency chart."""
    rows = []
    for task in tasks:
        lat_bars = []
        for s in series:
            t = s.by_task.get(task)
            if t is None:
                continue
            u = t.usage
            rows.append({
                "task": task, "series": s, "status": t.status,
                "requests": None if not u or u.requests is None else f"{u.successful}/{u.requests}",
                "failed": u.failed if u else None,
                "codes": ", ".join(f"{k}×{v}" for k, v in sorted(u.status_codes.items())) if u else "",
                "latency": _pair(u.avg_latency_ms if u else None, u.max_latency_ms if u else None, " ms"),
                "tokens": _pair(u.avg_prompt_tokens if u else None, u.avg_completion_tokens if u else None, ""),
                "total": "—" if not u or u.total_tokens_est is None else "≈" + format(u.total_tokens_est, ","),
                "elapsed": None if t.elapsed_seconds is None else f"{t.elapsed_seconds:.1f} s",
                "elapsed_from_requests": t.elapsed_source == "requests",
                "runtime": "—" if t.runtime_seconds is None else f"{t.runtime_seconds:.3f} s"})
            if u and u.avg_latency_ms is not None:
                lat_bars.append((s, u.avg_latency_ms, u.max_latency_ms))
        if lat_bars:
            lat_groups.append((task, lat_bars))
    return rows


def _link_rows(series: list[_Series], tasks: list[str], base: Path | None) -> list[dict]:
    rows = []
    for task in tasks:
        for s in series:
            t = s.by_task.get(task)
            if t is None:
                continue
            log = Path(t.task_dir) / LOGS / STDOUT_LOG
            rows.append({"task": task, "series": s, "job_id": t.job_id,
                         "report": _link(Path(t.report_html), base, "report.html", "task-report") if t.report_html else None,
                         "log": _link(log, base, "stdout.log") if log.is_file() else None,
                         "folder": _link(Path(t.task_dir), base, "folder") if Path(t.task_dir).is_dir() else None})
    return rows


# ---------------------------------------------------------------------------------------- bits


def _why(t: TaskResult) -> str:
    parts = [f"missing {', '.join(t.missing)}"] if t.missing else []
    return f"{t.status}: " + "; ".join(parts + t.notes) if parts or t.notes else str(t.status)


def _link(target: Path, base: Path | None, text: str, cls: str = "") -> dict[str, str]:
    """A link's href (relative to ``base`` when given, else a file:// URI), text and class."""
    href = target.resolve().as_uri()
    if base is not None:
        try:
            href = Path(os.path.relpath(target.resolve(), base)).as_posix()
        except ValueError:  # another drive on Windows
            pass
    return {"href": href, "text": text, "cls": cls}


def _pair(a: float | None, b: float | None, unit: str) -> str:
    if a is None and b is None:
        return "—"
    return f"{_fmt1(a)} / {_fmt1(b)}{unit}"


def _fmt1(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"

"""One self-contained HTML page comparing runs and models (``evalcompose report``).

Inline CSS (``compose-templates/report/report.css``) and inline SVG charts: no script, no web font,
no request to the network, so the page opens from disk, from a CI artifact or from an e-mail.
Sections: runs (one colour each), incomplete tasks named with what is missing, a scores table
(task x metric, one column per run), a bar chart per task (runs side by side, stderr whiskers),
request/latency/token figures with a latency chart, and links to each task's own ``report.html``
and log (relative to the page when it is written to a file, ``file://`` otherwise).
"""

from __future__ import annotations

import os
from datetime import datetime
from html import escape
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
    for i, (run, model) in enumerate(zip(runs, models)):
        label = f"{model} · {run.invocation_id[:8]}" if models.count(model) > 1 or len(runs) == 1 else model
        out.append(_Series(run, PALETTE[i % len(PALETTE)], label))
    return out


def render_report(runs: list[RunResults], out_path: Path | None = None, title: str = "evalcompose report") -> str:
    """The HTML page. Links are relative to ``out_path``'s folder when given."""
    from .templates import template_text

    series = _series(runs)
    base = Path(out_path).resolve().parent if out_path else None
    tasks = _task_order(runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>\n{template_text('report/report.css')}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{len(runs)} run{"s" if len(runs) != 1 else ""}, '
        f'{len({m for r in runs for m in r.model_ids})} model(s), {len(tasks)} task(s) · generated '
        f'{escape(datetime.now().isoformat(timespec="seconds"))}</p>',
        _runs_section(series, base),
        _problems_section(series),
        _scores_section(series, tasks),
        _charts_section(series, tasks),
        _usage_section(series, tasks),
        _links_section(series, tasks, base),
        '<footer>Scores from each task\'s <code>results.yml</code>; request figures from '
        '<code>eval_factory_metrics.json</code> (response_stats); elapsed time from the task log\'s first and '
        'last timestamps. Written by evalcompose.</footer>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_report(runs: list[RunResults], out_path: str | Path, title: str = "evalcompose report") -> Path:
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(runs, path, title), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------- sections


def _task_order(runs: list[RunResults]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        for t in run.tasks:
            seen.setdefault(t.task, None)
    return list(seen)


def _runs_section(series: list[_Series], base: Path | None) -> str:
    rows = []
    for s in series:
        r = s.run
        counts: dict[str, int] = {}
        for t in r.tasks:
            counts[t.status] = counts.get(t.status, 0) + 1
        status = ", ".join(f'<span class="status {escape(k)}">{v} {escape(k)}</span>' for k, v in sorted(counts.items()))
        rows.append(
            f'<tr><td class="run">{_swatch(s)}{escape(s.label)}</td><td><code>{escape(r.invocation_id)}</code></td>'
            f"<td>{escape(', '.join(r.model_ids) or '—')}</td><td>{escape(r.created or '—')}</td>"
            f"<td>{status or '—'}</td><td>{_link(Path(r.run_dir), base, 'run folder')}</td></tr>")
    return ("<h2 id=\"runs\">Runs</h2><table><thead><tr><th>Run</th><th>Invocation</th><th>Model</th><th>Created</th>"
            "<th>Tasks</th><th>Folder</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _problems_section(series: list[_Series]) -> str:
    items = []
    for s in series:
        for t in s.run.tasks:
            if t.status == COMPLETE:
                continue
            what = f"missing {', '.join(t.missing)}" if t.missing else ""
            detail = "; ".join(x for x in [what, *t.notes] if x)
            progress = f" · progress {escape(t.progress)}" if t.progress else ""
            items.append(f'<li>{_swatch(s)}<code>{escape(t.job_id)}</code> {escape(t.task)}: '
                         f'<span class="status {escape(t.status)}">{escape(t.status)}</span> — {escape(detail)}{progress}</li>')
    if not items:
        return ""
    return '<h2 id="incomplete">Incomplete tasks</h2><div class="problems"><ul>' + "".join(items) + "</ul></div>"


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
                    short = t.benchmark
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


def _scores_section(series: list[_Series], tasks: list[str]) -> str:
    head = "".join(f'<th class="num run">{_swatch(s)}{escape(s.label)}</th>' for s in series)
    body = []
    for task, ident, label in _score_rows(series, tasks):
        found = [_find(s.by_task.get(task), ident) for s in series]
        values = [f.value for f in found if f is not None and f.value is not None]
        best = max(values) if len(values) > 1 else None
        cells = []
        for s, sc in zip(series, found):
            t = s.by_task.get(task)
            if sc is None or sc.value is None:
                short = "not run" if t is None else t.status
                why = "not in this run" if t is None else _why(t)
                cells.append(f'<td class="num muted" title="{escape(why)}">— <span class="se">{escape(short)}</span></td>')
                continue
            se = f' <span class="se">±{fmt_number(sc.stderr)}</span>' if sc.stderr is not None else ""
            n = f' <span class="se">n={sc.count}</span>' if sc.count is not None else ""
            cls = "num best" if best is not None and sc.value == best else "num"
            cells.append(f'<td class="{cls}" data-key="{escape(sc.key)}">{fmt_number(sc.value)}{se}{n}</td>')
        body.append(f"<tr><td>{escape(task)}</td><td>{escape(label)}</td>{''.join(cells)}</tr>")
    if not body:
        return '<h2 id="scores">Scores</h2><p class="muted">No scores in any of these runs.</p>'
    return ('<h2 id="scores">Scores</h2><div class="scroll"><table class="scores"><thead><tr><th>Task</th><th>Metric</th>' + head +
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def _charts_section(series: list[_Series], tasks: list[str]) -> str:
    rows = _score_rows(series, tasks)
    boxes = []
    for task in tasks:
        groups = []
        for t_name, ident, label in rows:
            if t_name != task:
                continue
            bars = []
            for s in series:
                t = s.by_task.get(task)
                sc = _find(t, ident)
                if sc is not None and sc.value is not None:
                    bars.append((s, sc.value, sc.stderr))
                elif t is not None:
                    bars.append((s, None, _why(t)))
            groups.append((label, bars))
        if any(v is not None for _, bars in groups for _, v, _ in bars):
            boxes.append(f'<div class="chart-box"><h3>{escape(task)}</h3>{bar_chart(task, groups)}</div>')
    if not boxes:
        return ""
    return '<h2 id="charts">Scores by task</h2><div class="charts">' + "".join(boxes) + "</div>"


def _usage_section(series: list[_Series], tasks: list[str]) -> str:
    body = []
    lat_groups = []
    for task in tasks:
        lat_bars = []
        for s in series:
            t = s.by_task.get(task)
            if t is None:
                continue
            u = t.usage
            codes = ", ".join(f"{k}×{v}" for k, v in sorted(u.status_codes.items())) if u else ""
            req = "—"
            if u and u.requests is not None:
                req = f"{u.successful}/{u.requests}" + (f' <span class="se">({u.failed} failed)</span>' if u.failed else "")
            elapsed = "—" if t.elapsed_seconds is None else f"{t.elapsed_seconds:.1f} s"
            if t.elapsed_seconds is not None and t.elapsed_source == "requests":
                elapsed += ' <span class="se">(requests)</span>'
            runtime = "—" if t.runtime_seconds is None else f"{t.runtime_seconds:.3f} s"
            body.append(
                f'<tr><td>{escape(task)}</td><td class="run">{_swatch(s)}{escape(s.label)}</td>'
                f'<td><span class="status {escape(t.status)}">{escape(t.status)}</span></td>'
                f'<td class="num">{req}</td><td>{escape(codes) or "—"}</td>'
                f'<td class="num">{_pair(u.avg_latency_ms if u else None, u.max_latency_ms if u else None, " ms")}</td>'
                f'<td class="num">{_pair(u.avg_prompt_tokens if u else None, u.avg_completion_tokens if u else None, "")}</td>'
                f'<td class="num">{"—" if not u or u.total_tokens_est is None else "≈" + format(u.total_tokens_est, ",")}</td>'
                f'<td class="num">{elapsed}</td><td class="num">{runtime}</td></tr>')
            if u and u.avg_latency_ms is not None:
                lat_bars.append((s, u.avg_latency_ms, u.max_latency_ms))
        if lat_bars:
            lat_groups.append((task, lat_bars))
    if not body:
        return ""
    table = ('<h2 id="usage">Requests, latency and tokens</h2><div class="scroll"><table class="usage"><thead><tr><th>Task</th><th>Run</th>'
             "<th>Status</th><th class=\"num\">Requests ok/sent</th><th>HTTP status</th><th class=\"num\">Latency avg / max</th>"
             "<th class=\"num\">Tokens avg in / out</th>"
             "<th class=\"num\">Total tokens</th><th class=\"num\">Elapsed</th><th class=\"num\">Reported runtime</th>"
             "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>"
             '<p class="muted">Total tokens ≈ average total tokens × successful requests. Reported runtime is '
             "nemo-evaluator's <code>evaluation.runtime_seconds</code>, which covers less than the whole task; "
             "elapsed is the task's wall time from its log.</p>")
    chart = ""
    if lat_groups:
        chart = ('<div class="charts"><div class="chart-box"><h3>Average latency per request (ms; dashed: max)</h3>'
                 + latency_chart(lat_groups) + "</div></div>")
    return table + chart


def _links_section(series: list[_Series], tasks: list[str], base: Path | None) -> str:
    body = []
    for task in tasks:
        for s in series:
            t = s.by_task.get(task)
            if t is None:
                continue
            rep = _link(Path(t.report_html), base, "report.html", cls="task-report") if t.report_html else \
                '<span class="muted">no report.html</span>'
            log = Path(t.task_dir) / LOGS / STDOUT_LOG
            log_link = _link(log, base, "stdout.log") if log.is_file() else '<span class="muted">no log</span>'
            folder = _link(Path(t.task_dir), base, "folder") if Path(t.task_dir).is_dir() else \
                '<span class="muted">no folder</span>'
            body.append(f'<tr><td>{escape(task)}</td><td class="run">{_swatch(s)}{escape(s.label)}</td>'
                        f"<td><code>{escape(t.job_id)}</code></td><td>{rep}</td><td>{log_link}</td>"
                        f"<td>{folder}</td></tr>")
    if not body:
        return ""
    return ("<h2 id=\"reports\">Per-task reports</h2><table><thead><tr><th>Task</th><th>Run</th><th>Job</th>"
            "<th>nemo-evaluator report</th><th>Log</th><th>Artifacts</th></tr></thead><tbody>" + "".join(body) +
            "</tbody></table>")


# ---------------------------------------------------------------------------------------- bits


def _why(t: TaskResult) -> str:
    parts = [f"missing {', '.join(t.missing)}"] if t.missing else []
    return f"{t.status}: " + "; ".join(parts + t.notes) if parts or t.notes else t.status


def _swatch(s: _Series) -> str:
    return f'<span class="swatch" style="background:{s.colour}"></span>'


def _link(target: Path, base: Path | None, text: str, cls: str = "") -> str:
    href = target.resolve().as_uri()
    if base is not None:
        try:
            href = Path(os.path.relpath(target.resolve(), base)).as_posix()
        except ValueError:  # another drive on Windows
            pass
    c = f' class="{cls}"' if cls else ""
    return f'<a{c} href="{escape(href)}">{escape(text)}</a>'


def _pair(a: float | None, b: float | None, unit: str) -> str:
    if a is None and b is None:
        return "—"
    return f"{_fmt1(a)} / {_fmt1(b)}{unit}"


def _fmt1(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"

"""Inline SVG charts of the HTML report (:mod:`composer.report`): plain markup, no script.

A bar is drawn for a run series ``s`` (``s.colour``, ``s.label``, ``s.run.invocation_id``); styles
come from the page's CSS (``.bar``, ``.err``, ``.grid``, ``.axis``, ``.value``, ``.noscore``, ``.max``).
"""

from __future__ import annotations

import math
from html import escape


def bar_chart(task: str, groups: list[tuple[str, list]]) -> str:
    """Horizontal bars: one cluster per metric, one bar per run, stderr whiskers."""
    values = [v for _, bars in groups for _, v, _ in bars if v is not None]
    tops = [v + (e or 0) for _, bars in groups for _, v, e in bars if v is not None]
    unit = all(0 <= v <= 1 for v in values)
    vmax = 1.0 if unit else _nice_max(max(tops + [0.0]))
    vmin = min(0.0, min(values))
    left, width, bar_h, gap = 240, 360, 18, 4
    right = 70
    y = 22
    items = []
    for label, bars in groups:
        items.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{escape(_clip(label, 34))}</text>')
        for s, v, e in bars:
            if v is None:  # e holds why there is no score
                items.append(f'<rect class="swatch-mark" x="{left}" y="{y + 5}" width="8" height="8" fill="{s.colour}"/>'
                             f'<text class="noscore" x="{left + 14}" y="{y + 13}">no score: {escape(_clip(e, 60))}</text>')
                y += bar_h + gap
                continue
            x0 = left + _scale(max(vmin, 0.0) if v >= 0 else v, vmin, vmax, width)
            x1 = left + _scale(v if v >= 0 else 0.0, vmin, vmax, width)
            w = max(x1 - x0, 1 if v != 0 else 0)
            tip = f"{s.label}: {fmt_number(v)}" + (f" ± {fmt_number(e)}" if e is not None else "")
            items.append(f'<rect class="bar" x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{s.colour}" '
                         f'data-run="{escape(s.run.invocation_id)}" data-value="{v!r}"><title>{escape(tip)}</title></rect>')
            if e:
                ea = left + _scale(max(vmin, v - e), vmin, vmax, width)
                eb = left + _scale(min(vmax, v + e), vmin, vmax, width)
                cy = y + bar_h / 2
                items.append(f'<line class="err" x1="{ea:.1f}" y1="{cy:.1f}" x2="{eb:.1f}" y2="{cy:.1f}"/>'
                             f'<line class="err" x1="{ea:.1f}" y1="{cy - 4:.1f}" x2="{ea:.1f}" y2="{cy + 4:.1f}"/>'
                             f'<line class="err" x1="{eb:.1f}" y1="{cy - 4:.1f}" x2="{eb:.1f}" y2="{cy + 4:.1f}"/>')
            items.append(f'<text class="value" x="{left + width + 6}" y="{y + 13}">{fmt_number(v)}</text>')
            y += bar_h + gap
        y += 10
    height = y + 8
    grid = _grid(left, width, 14, height - 4, vmin, vmax)
    return (f'<svg class="chart" role="img" aria-label="{escape(task)} scores" xmlns="http://www.w3.org/2000/svg" '
            f'width="{left + width + right}" height="{height}" viewBox="0 0 {left + width + right} {height}">'
            + grid + "".join(items) + "</svg>")


def latency_chart(groups: list[tuple[str, list]]) -> str:
    """Horizontal bars of average latency per task, one per run, a dashed mark at the maximum."""
    vmax = _nice_max(max(max(v, m or 0) for _, bars in groups for _, v, m in bars))
    left, width, bar_h, gap, right = 240, 360, 16, 3, 80
    y = 22
    items = []
    for task, bars in groups:
        items.append(f'<text x="{left - 8}" y="{y + 11}" text-anchor="end">{escape(_clip(task.split(".", 1)[-1], 32))}'
                     f'<title>{escape(task)}</title></text>')
        for s, v, m in bars:
            w = _scale(v, 0, vmax, width)
            items.append(f'<rect class="bar latency" x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" '
                         f'fill="{s.colour}" data-run="{escape(s.run.invocation_id)}" data-value="{v!r}">'
                         f'<title>{escape(s.label)}: avg {v:.1f} ms' + (f", max {m:.1f} ms" if m is not None else "")
                         + "</title></rect>")
            if m is not None:
                xm = left + _scale(m, 0, vmax, width)
                items.append(f'<line class="max" x1="{xm:.1f}" y1="{y - 1}" x2="{xm:.1f}" y2="{y + bar_h + 1}"/>')
            items.append(f'<text class="value" x="{left + width + 6}" y="{y + 12}">{v:.1f} ms</text>')
            y += bar_h + gap
        y += 10
    height = y + 8
    return (f'<svg class="chart" role="img" aria-label="latency" xmlns="http://www.w3.org/2000/svg" '
            f'width="{left + width + right}" height="{height}" viewBox="0 0 {left + width + right} {height}">'
            + _grid(left, width, 14, height - 4, 0, vmax) + "".join(items) + "</svg>")


def _grid(left: float, width: float, top: float, bottom: float, vmin: float, vmax: float) -> str:
    out = []
    for i in range(5):
        v = vmin + (vmax - vmin) * i / 4
        x = left + width * i / 4
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
                   f'<text class="axis" x="{x:.1f}" y="{top - 3}" text-anchor="middle">{fmt_number(v, 3)}</text>')
    return "".join(out)


def _scale(v: float, vmin: float, vmax: float, width: float) -> float:
    return 0.0 if vmax == vmin else (v - vmin) / (vmax - vmin) * width


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def fmt_number(v: float | None, digits: int = 4) -> str:
    """A value for a table cell or a chart label: integers as such, others to ``digits`` significant digits."""
    if v is None:
        return "—"
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.{digits}g}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"

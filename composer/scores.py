"""Scores of a results.yml, flattened into the keys nemo-evaluator-launcher exports.

Pure data (no files, no Docker): :func:`extract_scores` turns a results.yml ``results`` section into
:class:`Score` rows, :func:`flat_scores` into ``{key: value}``, :func:`headline_scores` picks the rows
worth a table line. Reading the files is :mod:`composer.results`' job.

Score keys (``Score.key``, :func:`flat_scores`) follow nemo-evaluator-launcher 0.2.6's exporters:
groups before tasks, ``<name>_<metric>_<score>`` (``<name>_<metric>`` when the score is named like
its metric), nested groups as ``<group>_<subgroup>``, metric-level stats as ``<key>_<stat>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Score:
    """One score of one metric of one task or group of results.yml."""

    name: str  # task or group name; nested groups joined with "_" as in the launcher's keys
    metric: str
    score: str
    value: float | None
    stderr: float | None = None
    count: int | None = None
    kind: str = "task"  # "task" (results.tasks) or "group" (results.groups)
    key: str = ""  # the launcher's flattened key


def extract_scores(results: dict, notes: list[str] | None = None) -> list[Score]:
    """Every score of a results.yml ``results`` section, groups first, keyed as the launcher keys them.

    A group and a task of the same name both appear (``kind`` tells them apart); :func:`flat_scores`
    keeps the first value of a key. A key seen twice with different values gets a note (the launcher
    refuses to export such a job).
    """
    notes = notes if notes is not None else []
    out: list[Score] = []
    seen: dict[str, float] = {}
    for section, kind in (("groups", "group"), ("tasks", "task")):
        data = results.get(section)
        if isinstance(data, dict):
            for name, node in data.items():
                _walk(str(name), node, kind, out, seen, notes)
    return out


def _walk(name: str, node, kind: str, out: list[Score], seen: dict[str, float], notes: list[str]) -> None:
    if not isinstance(node, dict):
        return
    if isinstance(node.get("groups"), dict):
        for sub, sub_node in node["groups"].items():
            _walk(f"{name}_{sub}", sub_node, "group", out, seen, notes)
    for metric, mdata in (node.get("metrics") or {}).items():
        if not isinstance(mdata, dict) or not isinstance(mdata.get("scores"), dict):
            notes.append(f"metric {name}.{metric} has no scores")
            continue
        for score, sdata in mdata["scores"].items():
            key = f"{name}_{metric}_{score}" if score != metric else f"{name}_{metric}"
            sdata = sdata if isinstance(sdata, dict) else {"value": sdata}
            value = as_float(sdata.get("value"))
            stats = as_dict(sdata.get("stats"))
            if value is None:
                notes.append(f"score {key} has no numeric value")
                continue
            _remember(seen, key, value, notes)
            out.append(Score(name, str(metric), str(score), value, as_float(stats.get("stderr")),
                             as_int(stats.get("count")), kind, key))
            # metric-level stats (older results.yml): flattened like the launcher, kept only as keys
            for stat, sval in (mdata.get("stats") or {}).items():
                sv = as_float(sval)
                if sv is not None:
                    _remember(seen, f"{key}_{stat}", sv, notes)
                    out.append(Score(name, str(metric), f"{score}_{stat}", sv, None, None, kind, f"{key}_{stat}"))


def _remember(seen: dict[str, float], key: str, value: float, notes: list[str]) -> None:
    if key not in seen:
        seen[key] = value
    elif seen[key] != value:
        notes.append(f"score key {key} appears twice with different values ({seen[key]} and {value}); "
                     "exports keep the first")


def flat_scores(scores: Iterable[Score], filters: Iterable[str] | None = None) -> dict[str, float]:
    """``{key: value}`` in results.yml order; ``filters`` keeps keys containing any of the substrings
    (case-insensitive, as the launcher's ``--log-metrics``)."""
    wanted = [f.lower() for f in filters or []]
    out: dict[str, float] = {}
    for s in scores:
        if s.value is not None and s.key not in out and (not wanted or any(f in s.key.lower() for f in wanted)):
            out[s.key] = s.value
    return out


def headline_scores(scores: Iterable[Score]) -> list[Score]:
    """The scores worth a table row: every task score, plus group scores that are not copies of one."""
    scores = list(scores)
    tasks = [s for s in scores if s.kind == "task"]
    task_values = {(s.name, s.metric, s.score): s.value for s in tasks}
    groups = [s for s in scores if s.kind == "group"
              and task_values.get((s.name, s.metric, s.score), object()) != s.value]
    return tasks + groups if tasks else groups


# ---------------------------------------------------------------------------------------- numbers


def as_dict(v: Any) -> dict:
    """``v`` when it is a mapping, else an empty one (files written by others may hold anything)."""
    return v if isinstance(v, dict) else {}


def as_float(v) -> float | None:
    """A number read from YAML or JSON as a float; None for booleans, non-numbers and NaN."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN -> None


def as_int(v) -> int | None:
    """:func:`as_float`, truncated to an int."""
    f = as_float(v)
    return int(f) if f is not None else None

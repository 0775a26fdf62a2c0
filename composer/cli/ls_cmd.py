"""``evalcompose ls tasks`` and ``evalcompose ls runs``."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from .app import ls_app


@ls_app.command("tasks")
def ls_tasks(
    filter: Optional[str] = typer.Argument(None, help="Substring of harness.task or description."),
    json_out: bool = typer.Option(False, "--json", help="JSON list."),
) -> None:
    """The task catalog: harness.task, endpoint types, image."""
    from ..catalog import load_catalog

    tasks = load_catalog().search(filter)
    if json_out:
        typer.echo(json.dumps([{"name": t.qualified, "task": t.name, "harness": t.harness, "image": t.image,
                                "endpoint_types": list(t.endpoint_types), "description": t.description}
                               for t in tasks], indent=1))
        return
    width = max((len(t.qualified) for t in tasks), default=10)
    for t in tasks:
        typer.echo(f"{t.qualified:<{width}}  {'/'.join(t.endpoint_types):<16} {t.image}")
    typer.echo(f"{len(tasks)} tasks")


@ls_app.command("runs")
def ls_runs(json_out: bool = typer.Option(False, "--json", help="JSON list.")) -> None:
    """Runs from the run index and the engine's labels, newest first."""
    from .. import runtime
    from ..errors import IncompatibleRun
    from ..runmeta import RunMeta
    from ..workspace import known_runs, read_run

    metas: dict[str, RunMeta] = {}
    notes: dict[str, str] = {}
    for inv, path in known_runs().items():
        try:
            metas[inv] = read_run(path).meta
        except IncompatibleRun as exc:  # a folder of another evalcompose version: listed, not read
            notes[inv] = exc.message
    # every engine some run uses (a run spread over several counts the containers of each)
    engines = {"default": runtime.DEFAULT_ENGINE}
    for meta in metas.values():
        engines.update({e.engine: runtime.Engine.parse(e.engine) for e in meta.engines})
    counts: dict[str, dict[str, int]] = {}
    silent: dict[str, list[str]] = {}
    for text, engine in engines.items():
        try:
            rows = runtime.all_evalcompose_containers(engine)
        except Exception:  # an engine that is down still lets us list folders
            rows = []
            silent.setdefault(text, [])
        for row in rows:
            labels = dict(p.split("=", 1) for p in (row.get("Labels") or "").split(",") if "=" in p)
            owner = labels.get("evalcompose.invocation")
            if owner and labels.get("evalcompose.role") != "prepare":
                state = str(row.get("State", "?"))
                counts.setdefault(owner, {}).setdefault(state, 0)
                counts[owner][state] += 1
    runs: list[dict[str, Any]] = []
    for inv, path in sorted(known_runs().items(), key=lambda kv: kv[1].name, reverse=True):
        if inv in notes:
            runs.append({"invocation_id": inv, "created": None, "run_dir": str(path), "tasks": None,
                         "containers": counts.get(inv, {}), "note": notes[inv]})
            continue
        meta = metas[inv]
        entry = {"invocation_id": inv, "created": meta.created, "run_dir": str(path), "tasks": len(meta.tasks),
                 "containers": counts.get(inv, {})}
        if meta.engines:
            entry["engines"] = [e.engine for e in meta.engines]
            dead = [e.engine for e in meta.engines if e.engine in silent]
            if dead:
                entry["note"] = f"engine(s) not answering: {', '.join(dead)}"
        runs.append(entry)
    if json_out:
        typer.echo(json.dumps(runs, indent=2))
        return
    for r in runs:
        states = ", ".join(f"{n} {s}" for s, n in sorted(r["containers"].items())) or "no containers"
        if r.get("note") and r["tasks"] is None:
            typer.echo(f"{r['invocation_id']}  ?  [{states}]  {r['run_dir']}  ({r['note']})")
            continue
        if r.get("engines"):
            states += f"; {len(r['engines'])} engines" + (f" ({r['note']})" if r.get("note") else "")
        typer.echo(f"{r['invocation_id']}  {r['created']}  {r['tasks']} tasks  [{states}]  {r['run_dir']}")

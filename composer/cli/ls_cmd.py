"""``evalcompose ls tasks`` and ``evalcompose ls runs``."""

from __future__ import annotations

import json
from pathlib import Path
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
    """Runs from the run index and the engine's labels, newest first; ORPHANED: containers whose
    run folder is gone or unreadable (evalcompose down ID removes them)."""
    from .. import runtime
    from ..errors import IncompatibleRun, RunNotFound
    from ..workspace import read_run, registered_runs, row_labels

    counts: dict[str, dict[str, int]] = {}
    working_dirs: dict[str, str] = {}
    try:
        rows = runtime.all_evalcompose_containers()
    except Exception:  # an engine that is down still lets us list folders
        rows = []
    for row in rows:
        labels = row_labels(row)
        inv = labels.get("evalcompose.invocation")
        if inv:
            state = row.get("State", "?")
            counts.setdefault(inv, {}).setdefault(state, 0)
            counts[inv][state] += 1
            working_dirs.setdefault(inv, labels.get("com.docker.compose.project.working_dir", ""))
    runs: list[dict[str, Any]] = []
    registered = registered_runs()
    for inv in set(registered) | set(counts):
        path = registered.get(inv)
        note = None
        try:
            meta = read_run(path).meta if path else None
        except IncompatibleRun as exc:  # a folder of another evalcompose version: listed, not read
            meta, note = None, exc.message
        except RunNotFound:
            meta = None
        if meta is None and note is None and inv not in counts:
            continue  # a folder deleted after its run was taken down: nothing left to show
        row = {"invocation_id": inv, "created": meta.created if meta else None,
               "run_dir": str(path or working_dirs.get(inv, "")), "tasks": len(meta.tasks) if meta else None,
               "containers": counts.get(inv, {}), "orphaned": meta is None and note is None}
        if note:
            row["note"] = note
        runs.append(row)
    runs.sort(key=lambda r: (Path(r["run_dir"]).name, r["invocation_id"]), reverse=True)
    if json_out:
        typer.echo(json.dumps(runs, indent=2))
        return
    for r in runs:
        states = ", ".join(f"{n} {s}" for s, n in sorted(r["containers"].items())) or "no containers"
        if r.get("note"):
            typer.echo(f"{r['invocation_id']}  ?  [{states}]  {r['run_dir']}  ({r['note']})")
        elif r["orphaned"]:
            typer.echo(f"{r['invocation_id']}  ORPHANED (run folder missing or unreadable)  [{states}]  {r['run_dir']}")
        else:
            typer.echo(f"{r['invocation_id']}  {r['created']}  {r['tasks']} tasks  [{states}]  {r['run_dir']}")

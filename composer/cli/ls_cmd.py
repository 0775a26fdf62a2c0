"""``evalcompose ls tasks`` and ``evalcompose ls runs``."""

from __future__ import annotations

import json
from typing import Optional

import typer

from . import ls_app


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

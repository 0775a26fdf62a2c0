"""Starting a run and watching it: the attached view of ``up`` and ``evalcompose watch``."""

from __future__ import annotations

import json
import sys
import time

import typer

POLL_SECONDS = 1.0


def monitoring_hints(run) -> list[str]:
    return [f"evalcompose watch {run.invocation_id}        # live view",
            f"evalcompose status {run.invocation_id}",
            f"docker compose -p {run.project} logs -f",
            f"evalcompose kill {run.invocation_id}         # stop (results stay)",
            f"evalcompose results {run.invocation_id}"]


def start_and_watch(prepared, *, detach: bool, json_out: bool) -> None:
    from .. import control

    run = prepared.run_info()
    control.start(run, env=prepared.environ)
    if detach:
        control.wait_started(run)
        if json_out:
            typer.echo(json.dumps(prepared.summary(), indent=2))
        else:
            typer.echo(f"started invocation {run.invocation_id} ({len(run.tasks)} tasks) in {run.run_dir}")
            typer.echo("\n".join(f"  {h}" for h in monitoring_hints(run)))
        return
    raise typer.Exit(watch_run(run, json_out=json_out))


def watch_run(run, json_out: bool = False) -> int:
    """Show a live table until every task has finished; Ctrl-C detaches. Returns 0 when all succeeded."""
    from rich.console import Console
    from rich.live import Live

    from .. import control
    from ..errors import RuntimeFailure
    from ..states import JobState

    console = Console(stderr=json_out)
    started = time.monotonic()
    first = control.status(run)
    if first.never_started:
        raise RuntimeFailure(f"run {run.invocation_id} never started (written by a dry run?): nothing to watch",
                             hint=f"start it with: evalcompose resume {run.invocation_id}")
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                st = control.status(run)
                live.update(_table(st, time.monotonic() - started))
                if st.finished:
                    break
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        console.print(f"\ndetached: invocation {run.invocation_id} keeps running.")
        console.print("\n".join(f"  {h}" for h in monitoring_hints(run)))
        return 0
    control.raise_if_not_started(st, run)
    if json_out:
        typer.echo(json.dumps(st.to_dict(), indent=2))
    else:
        console.print()  # the live table leaves the cursor at the end of its last line
        _print_results(run, console)
        for j in st.jobs:  # what went wrong, named (the target's URL and answer, when the log says)
            if j.state == JobState.FAILED and j.detail:
                console.print(f"{j.job_id} FAILED: {j.detail}", markup=False, highlight=False, soft_wrap=True)
    return 0 if all(j.state == JobState.SUCCESS for j in st.jobs) else 1


def _table(st, elapsed: float):
    from rich.markup import escape
    from rich.table import Table

    from ..states import JobState

    colors = {JobState.SUCCESS: "green", JobState.FAILED: "red", JobState.KILLED: "yellow", JobState.RUNNING: "cyan",
              JobState.PENDING: "dim"}
    failed = [escape(f"{j.job_id}: {j.detail}") for j in st.jobs if j.state == JobState.FAILED and j.detail]
    table = Table(title=f"{st.project}  ({elapsed:.0f} s)", title_justify="left",
                  caption="\n".join(failed) or None, caption_justify="left")
    for col in ("job", "task", "state", "progress", "exit"):
        table.add_column(col)
    if st.model:
        table.add_row("model", "model server", f"{st.model.state} {st.model.health}".strip(), "", "")
    for j in st.jobs:
        table.add_row(j.job_id, j.task, f"[{colors.get(j.state, '')}]{j.state}[/]", j.progress or "",
                      "" if j.exit_code is None else str(j.exit_code))
    return table


def _print_results(run, console) -> None:
    from .results_cmds import print_results  # (it lives in the CLI, not in composer.results)

    print_results([run], console)
    sys.stdout.flush()

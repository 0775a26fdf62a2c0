"""Commands on runs that exist: status, watch, logs, kill, resume, down, and ``images build``."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from .app import app

_JSON = typer.Option(False, "--json", help="JSON output.")


_LATEST = typer.Option(False, "--latest", help="The newest run (only when asked: no command picks a run by itself).")


def _runs(refs: list[str], latest: bool = False):
    """(run, service or None) for each reference; ids are checked (exit 2) before anything is looked up.

    No reference is an error unless ``latest`` asks for the newest run explicitly.
    """
    from .. import control
    from ..errors import BadRunId, RunNotFound
    from ..workspace import known_runs, parse_run_ref, read_run

    for ref in refs:
        parse_run_ref(ref)
    if latest and refs:
        raise BadRunId("give run ids or --latest, not both", hint="evalcompose ls runs lists them")
    if not refs:
        if not latest:
            raise BadRunId("no run id given", hint="name a run (evalcompose ls runs), or pass --latest for the newest")
        runs = known_runs()
        if not runs:
            raise RunNotFound("no runs yet", hint="start one with: evalcompose up CONFIG.yaml")
        return [(read_run(max(runs.values(), key=lambda p: p.name)), None)]
    return [control.find(ref) for ref in refs]


@app.command()
def status(ids: Optional[List[str]] = typer.Argument(None, help="Invocation ids, job ids (<id>.<n>) or prefixes."),
           latest: bool = _LATEST, json_out: bool = _JSON) -> None:
    """State of each job: PENDING, RUNNING, SUCCESS, FAILED or KILLED, from Docker and the run folder."""
    from .. import control

    out = []
    for run, service in _runs(ids or [], latest):
        st = control.status(run)
        if service:
            st.jobs = [j for j in st.jobs if j.service == service]
        out.append(st)
    if json_out:
        typer.echo(json.dumps([s.to_dict() for s in out], indent=2))
        return
    for st in out:
        typer.echo(format_status(st))


def format_status(st) -> str:
    """A plain-text status table (no rich: status must answer fast)."""
    spread = any(j.engine for j in st.jobs)  # a run over several engines: say where each job is
    rows = [("JOB", "TASK", "STATE", "EXIT", "PROGRESS", "CONTAINER", *(("ENGINE",) if spread else ()))]
    rows += [(j.job_id, j.task, j.state, "" if j.exit_code is None else str(j.exit_code), j.progress or "",
              j.container or "", *((j.engine,) if spread else ())) for j in st.jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"invocation {st.invocation_id}  project {st.project}  scheduler {st.scheduler}",
             f"run folder {st.run_dir}" + ("  (missing or unreadable: jobs from the containers' labels)" if st.orphaned else "")]
    if st.never_started:
        lines.append(f"this run never started (written by a dry run?): evalcompose resume {st.invocation_id} starts it")
    if st.model:
        lines.append(f"model: {st.model.state} {st.model.health}".rstrip() + f"  ({st.model.container or 'no container'})")
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"  {j.job_id}: {j.detail}" for j in st.jobs if j.detail]
    if st.scheduler_error:
        lines.append(f"scheduler: {st.scheduler_error}")
    return "\n".join(lines)


@app.command()
def watch(ref: Optional[str] = typer.Argument(None, help="Invocation id or prefix."), latest: bool = _LATEST) -> None:
    """Live view of a run (Ctrl-C leaves it running); returns at once for a run that never started."""
    from .live import watch_run

    run, _ = _runs([] if ref is None else [ref], latest)[0]
    raise typer.Exit(watch_run(run))


@app.command()
def logs(ref: str = typer.Argument(..., help="Invocation id, job id or prefix."),
         task: Optional[str] = typer.Argument(None, help="Task service name (default: all, model included)."),
         follow: bool = typer.Option(True, "--follow/--no-follow", "-f", help="Keep following while containers run.")) -> None:
    """Container output through docker compose (each task's also lands in <task>/logs/stdout.log)."""
    from .. import control, engines, runtime

    run, service = _runs([ref])[0]
    services = [s for s in (task or service,) if s]
    still_running = any(not j.state.terminal for j in control.status(run).jobs)
    if engines.is_spread(run):
        raise typer.Exit(engines.logs(run, services, follow and still_running))
    raise typer.Exit(runtime.logs(run.run_dir, run.project, services, follow and still_running))


@app.command()
def kill(refs: List[str] = typer.Argument(..., help="Invocation ids or job ids (<id>.<n>)."),
         timeout: int = typer.Option(10, "--timeout", help="Seconds between SIGTERM and SIGKILL.")) -> None:
    """Stop gracefully: the harness gets SIGTERM and keeps what it wrote; status shows KILLED."""
    from .. import control

    for run, service in _runs(refs):
        control.kill(run, service, timeout)
        typer.echo(f"killed {run.invocation_id}{'.' + service if service else ''} (results already written stay)")


@app.command()
def resume(ref: str = typer.Argument(..., help="Invocation id or prefix."),
           env_file: Optional[str] = typer.Option(None, "--env-file", help="Env file with secret values (default: ./.env).")) -> None:
    """Start the unfinished tasks again (never a SUCCESS) over the same artifacts and request cache."""
    from .. import control, runtime
    from ..workspace import parse_run_ref
    from ._prepare import load_environ

    parse_run_ref(ref)
    environ = load_environ(env_file)[0]
    run, _ = _runs([ref])[0]
    _require_host_variables(run.meta.host_variables, environ)
    runtime.preflight()
    todo = control.resume(run, env=environ)
    if not todo:
        typer.echo(f"{run.invocation_id}: every task already succeeded; nothing to resume")
        return
    typer.echo(f"resuming {run.invocation_id}: {', '.join(todo)}")
    typer.echo(f"  evalcompose watch {run.invocation_id}    docker compose -p {run.project} logs -f")


def _require_host_variables(names: List[str], environ: dict) -> None:
    """Before resuming: every host variable the run reads is set (a lit: secret's value was never
    written anywhere, so it must come from the shell again), else exit 2 naming it."""
    from ..deploy import LITERAL_PREFIX
    from ..errors import ConfigError

    missing = [name for name in names if not environ.get(name)]
    if not missing:
        return
    name = missing[0]
    origin = name.removeprefix(LITERAL_PREFIX)
    hint = (f"export {name}=<the lit: value of {origin} in your config> (lit: secrets are never written)"
            if name.startswith(LITERAL_PREFIX) else f"export {name}=... or put it in .env / --env-file")
    raise ConfigError(None, f"resume needs host variable {name}, which is not set", hint=hint)


@app.command()
def down(refs: List[str] = typer.Argument(..., help="Invocation ids or prefixes."),
         volumes: bool = typer.Option(False, "--volumes", "-v",
                                      help="Also remove the named volumes this run created (never the shared model cache).")) -> None:
    """Remove the containers and network of a run; its results and logs stay. Lists its named volumes."""
    from .. import control

    for run, _ in _runs(refs):
        report = control.down(run, volumes=volumes)
        where = f"results stay in {run.run_dir}" if not run.orphaned else "its run folder was already gone"
        typer.echo(f"removed {run.project} ({where})")
        for name in report.removed:
            typer.echo(f"  removed volume {name}")
        for name, why in report.kept.items():
            typer.echo(f"  kept volume {name}: {why}")


images_app = typer.Typer(help="Built-in images (harness with the built-in benchmark, model stand-in, llama-server).", no_args_is_help=True)
app.add_typer(images_app, name="images")


@images_app.command("build")
def images_build(force: bool = typer.Option(False, "--force", help="Rebuild even if present.")) -> None:
    """Build the built-in images (base: $EVALCOMPOSE_BASE_IMAGE, else python:3.11-slim or a local base)."""
    from .. import control, runtime
    from ..images import BUILTIN_IMAGES

    runtime.preflight()
    tags = [img.tag for img in BUILTIN_IMAGES.values()]
    if force:
        for tag in tags:
            runtime.remove_image(tag)
    built = control.ensure_builtin_images(tags, typer.echo)
    typer.echo(f"built {', '.join(built)}" if built else "built-in images are present")

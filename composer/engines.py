"""Operations on a run spread over several Docker engines (``execution.hosts`` / ``--host``).

Each engine runs its own compose project (``compose.<engine>.yaml``, see :mod:`composer.spread`)
with its own background scheduler (``.evalcompose/engine-<name>/``). Everything here fans out
the single-engine operations of :mod:`composer.runtime` (one call per engine, the engine passed
in) and adds what the lack of a shared filesystem needs:

* images an engine lacks: evalcompose's own (built-in, built from PyPI) are shipped from this
  machine's engine (``docker save | docker load``: the same image id everywhere, no build
  context or wheels to move); others are pulled THERE first (its registry access and
  credentials), shipped from here only when that fails and this engine has them;
* results: a finished task's ``/results`` and logs are copied back (``docker cp``) into
  ``<task>/artifacts`` and ``<task>/logs`` the first time status (or down) sees it finished; on
  resume a task moved to another engine gets them copied in before it starts;
* an engine that does not answer: its tasks read UNREACHABLE (or SUCCESS when their results are
  already here); ``resume`` places its unfinished tasks on the engines that answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import yaml

from . import runtime
from .errors import PrerequisiteError, RuntimeFailure
from .layout import ARTIFACTS, COMPOSE_FILE, LOGS, STATE_DIR
from .runmeta import EngineMeta
from .spread import ENGINE_BLOCK, PREPARE_SERVICE, HostSpec, assign
from .states import SchedulerPhase
from .status import FAILED, KILLED, SUCCESS, UNREACHABLE, JobStatus, RunStatus, collect
from .workspace import RunInfo, clear_kill_markers, mark_killed, write_file

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FETCHED = "fetched"  # .evalcompose/fetched/<service>: the container id whose results are here


@dataclass(frozen=True)
class Placement:
    """One engine of the run and the task services its compose file holds."""

    meta: EngineMeta
    engine: runtime.Engine
    services: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"engine-{self.meta.name}"

    @property
    def files(self) -> tuple[str, ...]:
        return (self.meta.file,)


def is_spread(run: RunInfo) -> bool:
    return bool(run.meta.engines)


def placements(run: RunInfo) -> list[Placement]:
    """Every engine of the run with its services, read from the engine files' own blocks."""
    out = []
    for meta in run.meta.engines:
        try:
            doc = yaml.load((run.run_dir / meta.file).read_text(encoding="utf-8"), Loader=_LOADER) or {}
        except (OSError, yaml.YAMLError):
            doc = {}
        services = tuple((doc.get(ENGINE_BLOCK) or {}).get("services") or [])
        out.append(Placement(meta, runtime.Engine.parse(meta.engine), services))
    return out


# ---------------------------------------------------------------- images

def ensure_images(run: RunInfo, built_here: Callable[[str], bool], say: Callable[[str], None] = lambda _: None,
                  only: set[str] | None = None) -> None:
    """Every engine of a written run has the images of its tasks and model (``only``: these engines)."""
    images_of = {t.service: t.image for t in run.tasks}
    model = [run.model.image] if run.model else []
    needs = {pl.meta.name: (pl.engine, [images_of[s] for s in pl.services] + model) for pl in placements(run)
             if pl.services and (only is None or pl.meta.name in only)}
    _ensure(needs, built_here, say)


def ensure_plan_images(plan, built_here: Callable[[str], bool], say: Callable[[str], None] = lambda _: None) -> None:
    """The same for a plan not written yet (``up`` checks images before writing the run folder)."""
    placement = assign([t.service for t in plan.tasks], plan.hosts, plan.max_parallel)
    images_of = {t.service: t.image for t in plan.tasks}
    model = [plan.model.image] if plan.model else []
    _ensure({h.name: (runtime.Engine.parse(h.engine), [images_of[s] for s in placement[h.name]] + model)
             for h in plan.hosts if placement[h.name]}, built_here, say)


def _ensure(needs: dict[str, tuple[runtime.Engine, list[str]]], built_here: Callable[[str], bool],
            say: Callable[[str], None]) -> None:
    for name, (engine, wanted) in needs.items():
        for image in runtime.missing_images(wanted, engine):
            if not built_here(image):
                try:
                    say(f"pulling {image} on {name}")
                    runtime.pull(image, engine)
                    continue
                except PrerequisiteError:
                    if runtime.missing_images([image]):
                        raise PrerequisiteError(f"image {image} is on neither engine {name} nor this machine's",
                                                hint=f"pull or load it on {engine}") from None
            say(f"shipping {image} to {name} (docker save | docker load)")
            runtime.ship_image(image, engine)


# ---------------------------------------------------------------- start and status

def start(run: RunInfo, env: Mapping[str, str] | None = None, services: dict[str, list[str]] | None = None) -> None:
    """One background scheduler per engine (``services``: engine -> the ones to start; default all)."""
    for pl in placements(run):
        todo = list(pl.services) if services is None else services.get(pl.meta.name, [])
        if not todo:
            continue
        model = run.model.service if run.model else None
        runtime.scheduler.start(run.run_dir, run.project, todo, pl.files, wait_for=todo, then_stop=model, env=env,
                                engine=pl.engine, key=pl.key)


def wait_created(run: RunInfo, timeout: float = 120) -> RunStatus | None:
    """Until every task container exists on its engine, or a scheduler ended; the last status read."""
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = status(run)
        if all(j.container for j in st.jobs) or st.scheduler != "running":
            return st
        time.sleep(1.0)
    return st


def status(run: RunInfo) -> RunStatus:
    """The run's status over every engine; finished tasks' results are copied back on the way."""
    jobs: dict[str, JobStatus] = {}
    states: list[SchedulerPhase] = []
    errors: list[str] = []
    model = None
    for pl in placements(run):
        sched = runtime.scheduler.state(run.run_dir, pl.key)
        try:
            rows = runtime.containers(run.project, pl.engine)
        except (PrerequisiteError, RuntimeFailure):
            for service in pl.services:
                jobs[service] = _unreachable(run, service, pl)
            continue
        slot_states = _slot_states(rows, pl) if run.meta.max_parallel or pl.meta.max_parallel else {}
        _fetch_finished(run, rows, pl)
        st = collect(run, rows, sched, slot_states)
        for job in st.jobs:
            if job.service in pl.services:
                job.engine = pl.meta.name
                jobs[job.service] = job
        states.append(st.scheduler)
        errors += [f"{pl.meta.name}: {st.scheduler_error}"] if st.scheduler_error else []
        model = model or st.model
    ordered = [jobs[t.service] for t in run.tasks if t.service in jobs]
    phase = (SchedulerPhase.RUNNING if SchedulerPhase.RUNNING in states else
             SchedulerPhase.FAILED if SchedulerPhase.FAILED in states else SchedulerPhase.DONE)
    return RunStatus(run.invocation_id, run.project, str(run.run_dir), phase, "; ".join(errors), model, ordered)


def _unreachable(run: RunInfo, service: str, pl: Placement) -> JobStatus:
    task = next(t for t in run.tasks if t.service == service)
    task_dir = run.task_dir(task)
    done = (task_dir / ARTIFACTS / "results.yml").is_file()
    return JobStatus(task.job_id, task.task, service, SUCCESS if done else UNREACHABLE, None, None, None,
                     str(task_dir), "" if done else f"engine {pl.meta.name} ({pl.meta.engine}) does not answer: "
                                                    "evalcompose resume places it on another engine", pl.meta.name)


def _slot_states(rows: list[dict], pl: Placement) -> dict[str, str]:
    """What each running task's entrypoint wrote in its ``logs/slot`` (that folder is on the engine)."""
    out = {}
    for row in rows:
        if row.get("Service") in pl.services and row.get("State") == "running":
            out[row["Service"]] = runtime.read_in_container(row["Name"], "/evalcompose/logs/slot", pl.engine) or ""
    return out


def _fetch_finished(run: RunInfo, rows: list[dict], pl: Placement, every: bool = False) -> None:
    """Copy ``/results`` and the logs of exited task containers (``every``: of all of them) here, once each."""
    marks = run.run_dir / STATE_DIR / FETCHED
    for row in rows:
        service = row.get("Service")
        if service not in pl.services or not (every or row.get("State") in ("exited", "dead")):
            continue
        mark = marks / service
        ident = f"{row.get('ID', row.get('Name'))} {row.get('State')} {row.get('ExitCode')}"
        if mark.is_file() and mark.read_text(encoding="utf-8") == ident:
            continue
        runtime.copy_out(row["Name"], "/results", run.run_dir / service / ARTIFACTS, pl.engine)
        runtime.copy_out(row["Name"], "/evalcompose/logs", run.run_dir / service / LOGS, pl.engine)
        marks.mkdir(parents=True, exist_ok=True)
        write_file(mark, ident)


# ---------------------------------------------------------------- kill, resume, down, logs

def kill(run: RunInfo, service: str | None = None, timeout: int = 10) -> list[str]:
    """Graceful stop on every engine (``service``: that task only); returns the engines that did not answer."""
    mark_killed(run, service)
    silent = []
    for pl in placements(run):
        if service and service not in pl.services:
            continue
        try:
            if not service:
                runtime.scheduler.stop(run.run_dir, pl.key)
            runtime.stop(run.run_dir, run.project, [service] if service else None, timeout, pl.engine, pl.files)
        except (PrerequisiteError, RuntimeFailure):
            silent.append(pl.meta.name)
    return silent


def resume(run: RunInfo, built_here: Callable[[str], bool], env: Mapping[str, str] | None = None,
           say: Callable[[str], None] = lambda _: None) -> list[str]:
    """Start the unfinished tasks again; those of an engine that does not answer move to one that does."""
    from .render import engine_file

    current = status(run)
    by_engine = {pl.meta.name: pl for pl in placements(run)}
    for pl in by_engine.values():  # waited for: an old watcher must not release a network under the resumed tasks
        runtime.scheduler.stop(run.run_dir, pl.key, wait=True)
    todo = [j for j in current.jobs if j.state != SUCCESS]
    if not todo:
        return []
    alive = [name for name, pl in by_engine.items() if runtime.engine_answers(pl.engine)]
    if not alive:
        raise PrerequisiteError("no engine of this run answers", hint="start one of them, then resume again")
    specs = tuple(HostSpec(pl.meta.name, pl.meta.engine, pl.meta.max_parallel) for n, pl in by_engine.items()
                  if n in alive)
    moving = [j.service for j in todo if j.engine not in alive]
    moved_to = assign(moving, specs, run.meta.max_parallel)
    clear_kill_markers(run, [j.service for j in todo])
    full = yaml.load((run.run_dir / COMPOSE_FILE).read_text(encoding="utf-8"), Loader=_LOADER)
    user = next(iter(full["services"].values())).get("user", "0:0")
    generation = f"resume-{time.time_ns()}"

    def read(path: str) -> str:
        return (run.run_dir / path).read_text(encoding="utf-8")

    starting: dict[str, list[str]] = {}
    todo_names = {j.service for j in todo}
    for name, pl in by_engine.items():
        stays = [s for s in pl.services if s not in moving]
        if name not in alive:  # it keeps only what finished there; down removes the rest when it answers again
            spec = HostSpec(pl.meta.name, pl.meta.engine, pl.meta.max_parallel)
            write_file(run.run_dir / pl.meta.file, engine_file(full, read, spec, stays, run.meta.max_parallel, user,
                                                               run.invocation_id, generation))
            continue
        incoming = moved_to.get(name, [])
        restart = [t.service for t in run.tasks if t.service in todo_names and (t.service in stays or t.service in incoming)]
        finished = [s for s in stays if s not in todo_names]
        spec = HostSpec(pl.meta.name, pl.meta.engine, pl.meta.max_parallel)
        write_file(run.run_dir / pl.meta.file, engine_file(full, read, spec, restart + finished, run.meta.max_parallel,
                                                           user, run.invocation_id, generation))
        starting[name] = restart
    ensure_images(run, built_here, say, only=set(starting))
    for name, services in starting.items():
        pl = next(p for p in placements(run) if p.meta.name == name)
        old = [j.service for j in todo if j.service in services and j.container and j.state in (FAILED, KILLED)]
        runtime.remove(run.run_dir, run.project, old, pl.engine, pl.files)
        # A finished engine project released its network: containers made for it cannot start again.
        model = [run.model.service] if run.model else []
        runtime.remove_stale(run.project, [*services, PREPARE_SERVICE, *model], pl.engine)
        arrived = [s for s in services if s in moving]
        if arrived:  # what came back from the engine that left goes out to the new one
            runtime.compose_up_no_start(run.run_dir, run.project, arrived, pl.files, env, pl.engine)
            for service in arrived:
                container = f"{run.project}-{service}-1"
                runtime.copy_in(run.run_dir / service / ARTIFACTS, container, "/results", pl.engine)
                runtime.copy_in(run.run_dir / service / LOGS, container, "/evalcompose/logs", pl.engine)
    start(run, env, starting)
    return [t.service for t in run.tasks if t.service in todo_names]


def down(run: RunInfo) -> list[str]:
    """Results copied back, then every engine's containers, network and volumes removed; returns the
    engines that did not answer (their leftovers stay until down runs again)."""
    silent = []
    for pl in placements(run):
        runtime.scheduler.stop(run.run_dir, pl.key)
        try:
            rows = runtime.containers(run.project, pl.engine)
        except (PrerequisiteError, RuntimeFailure):
            silent.append(pl.meta.name)
            continue
        _fetch_finished(run, rows, pl, every=True)
        runtime.down(run.run_dir, run.project, pl.engine, pl.files)
        runtime.remove_role_volumes(run.project, ("results", "slots"), pl.engine)
    return silent


def logs(run: RunInfo, services: list[str], follow: bool) -> int:
    """Every engine's ``compose logs`` (followed side by side in threads when ``follow``)."""
    codes: list[int] = []
    wanted = [pl for pl in placements(run) if not services or set(services) & set(pl.services)]

    def one(pl: Placement) -> None:
        mine = [s for s in services if s in pl.services]
        codes.append(runtime.logs(run.run_dir, run.project, mine, follow, pl.engine, pl.files))

    threads = [threading.Thread(target=one, args=(pl,), daemon=True) for pl in wanted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(codes, default=0)


def engines_of(run: RunInfo) -> list[runtime.Engine]:
    return [runtime.Engine.parse(e.engine) for e in run.meta.engines]


__all__ = ["Placement", "down", "engines_of", "ensure_images", "is_spread", "kill", "logs", "placements", "resume",
           "start", "status", "wait_created"]

"""Operations on a run that combine the run folder, the engine and the job states:
start (building missing built-in images first), status, kill, resume, down.

Docker is reached only through :mod:`composer.runtime`; files only through :mod:`composer.workspace`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import autoexport, runtime
from .errors import EvalComposeError, RunFolderUnreadable, RunNotFound, RuntimeFailure
from .images import (
    BUILTIN_IMAGES,
    HarnessBuild,
    base_image,
    base_image_candidates,
    build_block,
    is_pypi_harness_tag,
    prepare_build_context,
    pypi_dockerfile,
)
from .layout import COMPOSE_FILE, MODEL_CACHE_VOLUME, RESUME_FILE
from .states import SchedulerPhase
from .status import FAILED, KILLED, SUCCESS, RunStatus, collect
from .workspace import (
    RunInfo,
    clear_kill_markers,
    find_run,
    job_service,
    mark_killed,
    orphan_run,
    parse_run_ref,
    row_labels,
    write_file,
)


def run_images(run: RunInfo) -> list[str]:
    images = [t.image for t in run.tasks]
    if run.model:
        images.append(run.model.image)
    return images


def ensure_builtin_images(images: list[str], say: Callable[[str], None] = lambda _: None) -> list[str]:
    """Build the built-in images (evalcompose/...) that the engine lacks; returns the ones built."""
    by_tag = {img.tag: img for img in BUILTIN_IMAGES.values()}
    wanted = [i for i in dict.fromkeys(images) if i in by_tag]
    missing = runtime.missing_images(wanted) if wanted else []
    if not missing:
        return []
    base = pick_base_image()
    for tag in missing:
        say(f"building {tag} FROM {base} (once; later runs reuse it)")
        runtime.build_image(prepare_build_context(by_tag[tag].name), tag, {"BASE_IMAGE": base})
    return missing


def pick_base_image(engine_required: bool = True) -> str:
    """BASE_IMAGE for evalcompose's builds: the first candidate the engine has, else the configured one.

    ``engine_required=False`` (dry runs): no engine answering gives the configured one.
    """
    candidates = base_image_candidates()
    absent = runtime.missing_images(candidates) if engine_required else runtime.missing_images_if_engine(candidates)
    if absent is None:
        return base_image()
    return next((c for c in candidates if c not in absent), base_image())


def _built_here(image: str) -> bool:
    """An evalcompose image (built-in, or a harness built from PyPI): never pulled."""
    return is_pypi_harness_tag(image) or image in {img.tag for img in BUILTIN_IMAGES.values()}


def ensure_harness_builds(builds: Sequence[tuple[HarnessBuild, Path]], base: str,
                          say: Callable[[str], None] = lambda _: None) -> list[str]:
    """Build the harness images from PyPI (spec, filled wheel cache) that the engine lacks; returns their tags.

    Runs before the run folder exists: a one-service compose project in a temporary folder,
    the wheel cache as its context (compose gives BuildKit, which the Dockerfile's RUN --mount needs).
    """
    by_tag = {spec.tag: (spec, wheels) for spec, wheels in builds}
    missing = runtime.missing_images(list(by_tag)) if by_tag else []
    for tag in missing:
        spec, wheels = by_tag[tag]
        say(f"building {tag} FROM {base}: nemo-evaluator + {spec.requirement} (once; later runs reuse it)")
        runtime.build_image_with_compose(tag, {**build_block(spec, base), "context": str(wheels)}, pypi_dockerfile())
    return missing


def ensure_run_builds(run: RunInfo, say: Callable[[str], None] = lambda _: None,
                      env: Mapping[str, str] | None = None) -> None:
    """A written run's harness images built from PyPI, rebuilt by compose if the engine lost them."""
    first = {t.image: t.service for t in reversed(run.tasks) if is_pypi_harness_tag(t.image)}
    for tag in runtime.missing_images(list(first)) if first else []:
        say(f"building {tag} (docker compose build {first[tag]})")
        runtime.build_services(run.run_dir, run.project, [first[tag]], env=env)


def ensure_pulled(images: list[str], say: Callable[[str], None] = lambda _: None) -> None:
    """Pull the (non built-in) images the engine lacks, so a missing image is one clear error up front."""
    for image in runtime.missing_images([i for i in images if not _built_here(i)]):
        say(f"pulling {image}")
        runtime.pull(image)


def ensure_images(images: list[str], say: Callable[[str], None] = lambda _: None,
                  builds: Sequence[tuple[HarnessBuild, Path]] = (), base: str | None = None) -> None:
    """Every image a run needs, on the engine: built-in ones and ``builds`` built, others pulled
    (before anything is written)."""
    ensure_builtin_images(images, say)
    if builds:
        ensure_harness_builds(builds, base or pick_base_image(), say)
    ensure_pulled(images, say)


def start(run: RunInfo, env: Mapping[str, str] | None = None) -> None:
    """Launch the background scheduler for a written run whose images are present.

    ``env`` (the env file's values: secrets) reaches compose through that process's environment only.
    """
    _launch(run, None, (COMPOSE_FILE,), env)


def _launch(run: RunInfo, services: list[str] | None, files: tuple[str, ...],
            env: Mapping[str, str] | None = None) -> None:
    tasks = services or [t.service for t in run.tasks]
    model = run.model.service if run.model else None
    runtime.scheduler.start(run.run_dir, run.project, services, files, wait_for=tasks, then_stop=model, env=env,
                            after_each=autoexport.hook_argv(run.run_dir))


def wait_started(run: RunInfo, timeout: float = 120) -> RunStatus | None:
    """Return once the run has visibly started, or raise :class:`RuntimeFailure` when it cannot start.

    Started: the containers compose starts first are up (the model when there is one: its port is
    bound and its devices selected; else the first task), or ``compose up -d`` ended. A port
    already taken or no GPU driver shows right there: compose fails and the whole error is raised.
    Watches the scheduler's log (a cheap file read every 50 ms); asks Docker (one ``compose ps``)
    only once the scheduler ended, or once a second as a fallback. Returns the last status read
    from Docker (None if none was).
    """
    first = {f"{run.project}-{run.model.service}-1"} if run.model else \
        {f"{run.project}-{t.service}-1" for t in run.tasks}
    deadline = time.monotonic() + timeout
    next_poll = time.monotonic() + 1.0
    st = None
    while time.monotonic() < deadline:
        started = runtime.scheduler.started_containers(run.run_dir)
        ended = runtime.scheduler.ended(run.run_dir)
        if not ended and (started & first if not run.model else first <= started):
            return None  # compose is at work and the first containers are up: the run has started
        if ended or time.monotonic() >= next_poll:
            st = status(run)
            if st.scheduler != SchedulerPhase.RUNNING:
                raise_if_not_started(st, run)
                return st
            next_poll = time.monotonic() + 1.0
        time.sleep(0.05)
    return st


def raise_if_not_started(st: RunStatus, run: RunInfo) -> None:
    """:class:`RuntimeFailure` with compose's whole error when the scheduler failed before any task ran."""
    never_ran = all(j.exit_code is None and j.state not in ("RUNNING", "SUCCESS", "KILLED") for j in st.jobs)
    if st.scheduler == "failed" and never_ran:
        hint = f"docker compose -p {run.project} logs model" if run.model else f"see {run.run_dir}/.evalcompose/up.log"
        what = ("the model server never became healthy, no task started" if run.model and "unhealthy" in st.scheduler_error
                else "the run could not start")
        raise RuntimeFailure(f"{what}: {st.scheduler_error}", hint=hint)


def status(run: RunInfo) -> RunStatus:
    """Every job's state from Docker and the run folder; finishes the work of a scheduler that died.

    A scheduler killed (kill -9, a reboot) before the run ended would leave the model running
    and the network held forever: once no task runs any more, this stops the model and releases
    the network, as the scheduler would have (:func:`reconcile`).
    """
    # The scheduler first: once it is seen ended, the containers read after it show everything it
    # started. Read the other way round, a container still "created" in the snapshot, started a
    # moment later by a scheduler that then ended, would read FAILED ("never started").
    scheduler = runtime.scheduler.state(run.run_dir)
    current = collect(run, runtime.containers(run.project), scheduler)
    if scheduler.launched and not scheduler.alive and not scheduler.done and current.finished and not run.orphaned:
        reconcile(run)
    return current


def reconcile(run: RunInfo) -> None:
    """The end of a run whose scheduler is gone: stop the model, release the networks, mark it done."""
    if runtime.scheduler.state(run.run_dir).alive:
        return
    model = run.model.service if run.model else None
    if model:
        runtime.stop(run.run_dir, run.project, [model])
    runtime.release_networks(run.project)
    if not runtime.networks(run.project):
        runtime.scheduler.mark_done(run.run_dir)


def kill(run: RunInfo, service: str | None = None, timeout: int = 10) -> None:
    """Graceful stop: SIGTERM reaches the harness, SIGKILL after ``timeout`` s.

    A whole invocation: the scheduler first (nothing more starts), then the tasks, the model last.
    """
    _require_folder(run, "kill")
    mark_killed(run, service)
    if service:
        runtime.stop(run.run_dir, run.project, [service], timeout)
        return
    runtime.scheduler.stop(run.run_dir, wait=True)
    runtime.stop(run.run_dir, run.project, None, timeout)  # compose stops dependents before the model
    runtime.release_networks(run.project)
    runtime.scheduler.mark_done(run.run_dir)


def resume(run: RunInfo, env: Mapping[str, str] | None = None) -> list[str]:
    """Start the unfinished tasks again (never a SUCCESS), over the same artifacts; returns their services.

    An override file re-chains the lanes among the unfinished tasks only, so ``up`` of those
    services does not pull finished ones back in; the model (if any) is started first again.
    ``env`` (the env file's values) reaches compose as in :func:`start`.
    """
    _require_folder(run, "resume")
    # The old scheduler goes first, and is waited for: still waiting for the other tasks, it would
    # otherwise stop the model under the resumed ones when those end.
    runtime.scheduler.stop(run.run_dir, wait=True)
    current = collect(run, runtime.containers(run.project), runtime.scheduler.state(run.run_dir))
    todo = [j.service for j in current.jobs if j.state != SUCCESS]
    if not todo:
        return []
    clear_kill_markers(run, todo)
    lanes = run.meta.max_parallel
    from .render import resume_override  # here, not at the top: status must not import the renderer (0.4 s budget)

    write_file(run.run_dir / RESUME_FILE, resume_override(todo, lanes, run.model.service if run.model else None))
    ensure_run_builds(run, env=env)
    ensure_images(run_images(run))
    # Their old exited containers would read KILLED/FAILED until compose starts them again (after
    # the model is healthy again, possibly minutes): without them, status says PENDING meanwhile.
    runtime.remove(run.run_dir, run.project, [j.service for j in current.jobs if j.service in todo
                                              and j.container and j.state in (FAILED, KILLED)])
    # A finished run released its network: containers made for it cannot start again, new ones are made.
    runtime.remove_stale(run.project, todo + ([run.model.service] if run.model else []))
    _launch(run, todo, (COMPOSE_FILE, RESUME_FILE), env)
    return todo


def find(ref: str) -> tuple[RunInfo, str | None]:
    """:func:`~composer.workspace.find_run`, and when the run folder is gone or unreadable (or the
    index lost the run), the run as its containers' labels describe it (``RunInfo.orphaned``)."""
    try:
        return find_run(ref)
    except RunFolderUnreadable as exc:
        known, where = exc.invocation_id, exc.run_dir
        rows = _labelled(lambda inv: inv == known)
        if not rows:
            raise
        run = orphan_run(known, rows, where)
    except RunNotFound:
        prefix, index = parse_run_ref(ref)
        rows = _labelled(lambda inv: inv.startswith(prefix))
        found = {row_labels(r)["evalcompose.invocation"] for r in rows}
        if len(found) != 1:
            raise
        run = orphan_run(found.pop(), rows)
        return run, job_service(run, index)
    return run, job_service(run, parse_run_ref(ref)[1])


def _labelled(accept: Callable[[str], bool]) -> list[dict]:
    """The evalcompose containers whose invocation label ``accept`` takes ([] when no engine answers:
    the caller then reports what it found without the engine)."""
    try:
        rows = runtime.all_evalcompose_containers()
    except EvalComposeError:
        return []
    return [r for r in rows if accept(row_labels(r).get("evalcompose.invocation", ""))]


def _require_folder(run: RunInfo, what: str) -> None:
    if run.orphaned:
        raise RunFolderUnreadable(f"cannot {what} {run.invocation_id}: its run folder {run.run_dir} is missing or unreadable",
                                  hint=f"evalcompose down {run.invocation_id} removes its containers")


@dataclass
class DownReport:
    """What ``down`` did with the run's named volumes: removed, kept (and why), each by name."""

    removed: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


def named_volumes(run: RunInfo) -> list[str]:
    """The named volumes the run's compose.yaml declares (``-v NAME:/path``, the model cache)."""
    import yaml

    try:
        doc = yaml.safe_load((run.run_dir / COMPOSE_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    volumes = doc.get("volumes") or {}
    return sorted({(v or {}).get("name") or k for k, v in volumes.items()} if isinstance(volumes, dict) else set())


def down(run: RunInfo, volumes: bool = False) -> DownReport:
    """Remove the run's containers and networks (results stay); with ``volumes`` also the named
    volumes this run created, except the model cache every invocation shares."""
    report = DownReport()
    if run.orphaned:
        runtime.down_project(run.project)
        return report
    runtime.scheduler.stop(run.run_dir, wait=True)
    runtime.down(run.run_dir, run.project)
    runtime.scheduler.mark_done(run.run_dir)
    names = named_volumes(run)
    owners = runtime.run_volumes(run.project, names) if names else {}
    for name in names:
        if owners[name] == "gone":
            continue
        if name == MODEL_CACHE_VOLUME:
            report.kept[name] = f"the model cache every run shares (docker volume rm {name})"
        elif not volumes:
            report.kept[name] = "named volume (evalcompose down --volumes removes it)"
        elif owners[name] != "ours":
            report.kept[name] = f"not created by this run (docker volume rm {name})"
        else:
            reason = runtime.remove_volume(name)
            if reason:
                report.kept[name] = reason
            else:
                report.removed.append(name)
    return report

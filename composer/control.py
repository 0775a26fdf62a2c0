"""Operations on a run that combine the run folder, the engine and the job states:
start (building missing built-in images first), status, kill, resume, down.

Docker is reached only through :mod:`composer.runtime`; files only through :mod:`composer.workspace`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import runtime
from .images import BUILTIN_IMAGES, base_image, base_image_candidates, prepare_build_context
from .layout import COMPOSE_FILE, RESUME_FILE
from .render import resume_override
from .status import SUCCESS, RunStatus, collect
from .workspace import RunInfo, clear_kill_markers, mark_killed, write_file


def run_images(run: RunInfo) -> list[str]:
    images = [t["image"] for t in run.tasks]
    if run.model:
        images.append(run.model["image"])
    return images


def ensure_builtin_images(images: list[str], say: Callable[[str], None] = lambda _: None) -> list[str]:
    """Build the built-in images (evalcompose/...) that the engine lacks; returns the ones built."""
    by_tag = {img.tag: img for img in BUILTIN_IMAGES.values()}
    wanted = [i for i in dict.fromkeys(images) if i in by_tag]
    missing = runtime.missing_images(wanted) if wanted else []
    if not missing:
        return []
    candidates = base_image_candidates()
    absent = set(runtime.missing_images(candidates))
    base = next((c for c in candidates if c not in absent), base_image())
    for tag in missing:
        say(f"building {tag} FROM {base} (once; later runs reuse it)")
        runtime.build_image(prepare_build_context(by_tag[tag].name), tag, {"BASE_IMAGE": base})
    return missing


def ensure_pulled(images: list[str], say: Callable[[str], None] = lambda _: None) -> None:
    """Pull the (non built-in) images the engine lacks, so a missing image is one clear error up front."""
    builtin = {img.tag for img in BUILTIN_IMAGES.values()}
    for image in runtime.missing_images([i for i in images if i not in builtin]):
        say(f"pulling {image}")
        runtime.pull(image)


def ensure_images(images: list[str], say: Callable[[str], None] = lambda _: None) -> None:
    """Every image a run needs, on the engine: built-in ones built, others pulled (before anything is written)."""
    ensure_builtin_images(images, say)
    ensure_pulled(images, say)


def start(run: RunInfo) -> None:
    """Launch the background scheduler for a written run whose images are present."""
    _launch(run, None, (COMPOSE_FILE,))


def _launch(run: RunInfo, services: list[str] | None, files: tuple[str, ...]) -> None:
    tasks = services or [t["service"] for t in run.tasks]
    model = run.model["service"] if run.model else None
    runtime.start(run.run_dir, run.project, services, files, wait_for=tasks, then_stop=model)


def status(run: RunInfo) -> RunStatus:
    return collect(run, runtime.containers(run.project), runtime.scheduler(run.run_dir))


def kill(run: RunInfo, service: str | None = None, timeout: int = 10) -> None:
    """Graceful stop: SIGTERM reaches the harness, SIGKILL after ``timeout`` s.

    A whole invocation: the scheduler first (nothing more starts), then the tasks, the model last.
    """
    mark_killed(run, service)
    if service:
        runtime.stop(run.run_dir, run.project, [service], timeout)
        return
    runtime.stop_scheduler(run.run_dir)
    runtime.stop(run.run_dir, run.project, None, timeout)  # compose stops dependents before the model


def resume(run: RunInfo) -> list[str]:
    """Start the unfinished tasks again (never a SUCCESS), over the same artifacts; returns their services.

    An override file re-chains the lanes among the unfinished tasks only, so ``up`` of those
    services does not pull finished ones back in; the model (if any) is started first again.
    """
    current = status(run)
    if current.scheduler == "running":
        runtime.stop_scheduler(run.run_dir)
    todo = [j.service for j in current.jobs if j.state != SUCCESS]
    if not todo:
        return []
    clear_kill_markers(run, todo)
    lanes = run.meta.get("max_parallel")
    write_file(run.run_dir / RESUME_FILE, resume_override(todo, lanes, run.model["service"] if run.model else None))
    ensure_images(run_images(run))
    _launch(run, todo, (COMPOSE_FILE, RESUME_FILE))
    return todo


def down(run: RunInfo) -> None:
    runtime.stop_scheduler(run.run_dir)
    runtime.down(run.run_dir, run.project)

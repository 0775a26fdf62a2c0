"""The runtime layer: the ONLY code that starts outside processes (docker, compose, pip).

python-on-whales and ``subprocess`` are imported here and nowhere else in ``composer``.
One module per outside tool, all built on the same two pieces:

- :mod:`.engine`     ``Engine`` (default / docker context / DOCKER_HOST URL) and the one place
                     docker and compose argv are built (``docker_argv``, ``compose_argv``);
- :mod:`.process`    ``run`` / ``spawn`` (the one way to run a command) and ``fail`` /
                     ``classified`` (the one classifier of failures into :mod:`composer.errors`);
- :mod:`.docker`     preflight, images, containers across projects;
- :mod:`.compose`    one compose project: ps, build, stop, rm, down, logs;
- :mod:`.scheduler`  the background ``compose up`` of a run and its state;
- :mod:`.watcher`    the scheduler's own program: up, wait for the tasks, stop the model, release;
- :mod:`.pip`        ``pip download`` of the wheels an image build installs.

Every call takes ``engine: Engine | None = None``. The names below are the public API
(``from composer import runtime; runtime.containers(project)``).
"""

from __future__ import annotations

from . import scheduler
from .compose import (
    build_image_with_compose,
    build_services,
    containers,
    down,
    down_project,
    logs,
    networks,
    release_networks,
    remove,
    remove_stale,
    remove_volume,
    run_volumes,
    stop,
)
from .docker import (
                     MIN_COMPOSE,
                     all_evalcompose_containers,
                     build_image,
                     missing_images,
                     missing_images_if_engine,
                     preflight,
                     pull,
                     remove_image,
)
from .engine import DEFAULT_ENGINE, Engine, compose_argv, docker_argv
from .scheduler import SchedulerState

__all__ = [
    "DEFAULT_ENGINE", "Engine", "MIN_COMPOSE", "SchedulerState", "all_evalcompose_containers", "build_image",
    "build_image_with_compose", "build_services", "compose_argv", "containers", "docker_argv", "down", "down_project",
    "logs", "networks", "release_networks", "remove_stale", "remove_volume", "run_volumes",
    "missing_images", "missing_images_if_engine", "preflight", "pull", "remove", "remove_image", "scheduler", "stop",
]

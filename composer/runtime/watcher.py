"""The scheduler's second half (``python -m composer.runtime.watcher SPEC``): the scheduler's shell
runs ``compose up -d`` (output appended to ``up.log``, exit status written to ``up.exit``), then
execs this. ``SPEC`` is one JSON object: ``run_dir``, ``project``, ``token``, ``engine``, ``stop``
(the ``compose stop MODEL`` argv, or null), ``wait_for`` (the task services) and ``after_each`` (a
command run with each task's service appended as that task ends, or null: auto_export's hook).

1. Until no container of ``wait_for`` runs: ``docker wait`` on the running ones, then look again
   (a resumed task gets a new container; a removed one ends the wait early). With ``after_each``
   it looks every :data:`POLL_SECONDS` instead, so each task's hook runs soon after that task ends.
2. If this scheduler is still the newest (``up.token`` unchanged: no resume started another) and no
   task runs: stop the model, remove the project's networks, write ``up.done``.

:func:`finish` is step 2 on its own: ``control.reconcile`` does the same for a scheduler that died.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import EvalComposeError
from . import scheduler
from .compose import containers, networks, release_networks
from .engine import Engine, docker_argv
from .process import run, run_logged

BUSY = ("running", "restarting", "paused")
POLL_SECONDS = 2.0


def busy_tasks(project: str, services: list[str], engine: Engine | None = None) -> list[dict]:
    """The containers of ``services`` that still run (or restart, or are paused)."""
    return [r for r in containers(project, engine) if r.get("Service") in services and r.get("State") in BUSY]


def finish(run_dir: Path, project: str, stop_argv: list[str] | None, engine: Engine | None = None) -> bool:
    """Stop the model (``stop_argv``) and release the networks; then the run is done (``up.done``).

    A network that could not go (a container still attached) leaves the run not done, so the next
    ``status`` tries again (:func:`composer.control.reconcile`). Returns whether it is done.
    """
    log = scheduler.state_dir(run_dir) / "up.log"
    if stop_argv:
        run_logged(stop_argv, log, cwd=run_dir, timeout=600)
    for attempt in range(3):
        release_networks(project, engine)
        if not networks(project, engine):
            scheduler.mark_done(run_dir)
            return True
        time.sleep(1 + attempt)
    return False


def run_hooks(run_dir: Path, project: str, hook: list[str], pending: set[str], engine: Engine | None) -> None:
    """Run ``hook + [SERVICE]`` for each ``pending`` task whose container has exited (then not pending)."""
    log = scheduler.state_dir(run_dir) / "up.log"
    for row in containers(project, engine):
        service = row.get("Service")
        if service in pending and row.get("State") in ("exited", "dead"):
            pending.discard(service)
            run_logged([*hook, service], log, cwd=run_dir, timeout=600)


def main(spec: dict) -> int:
    run_dir, project, token = Path(spec["run_dir"]), spec["project"], spec["token"]
    engine = Engine.parse(spec.get("engine"))
    services = list(spec.get("wait_for") or [])
    hook, pending = spec.get("after_each"), set(services)
    while scheduler.is_current(run_dir, token):
        try:
            running = busy_tasks(project, services, engine)
            if hook:
                run_hooks(run_dir, project, hook, pending, engine)
        except EvalComposeError:  # the engine blinked (restart): look again later
            time.sleep(POLL_SECONDS * 5)
            continue
        if not running:
            break
        if hook:
            time.sleep(POLL_SECONDS)
            continue
        waited = run([*docker_argv(engine), "wait", *[r["ID"] for r in running]], timeout=None, check=False)
        if waited.returncode != 0:  # a container removed meanwhile ends ``docker wait`` at once: no busy loop
            time.sleep(POLL_SECONDS)
    if hook:
        try:
            run_hooks(run_dir, project, hook, pending, engine)
        except EvalComposeError:
            pass  # `evalcompose export ID` does it after the fact
    if scheduler.is_current(run_dir, token):
        finish(run_dir, project, spec.get("stop"), engine)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))

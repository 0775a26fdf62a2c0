"""The scheduler: the background process that runs a run's ``docker compose up -d`` and then looks
after it until its tasks end (a ``/bin/sh`` that runs compose, then becomes :mod:`.watcher`).

``docker compose up -d`` is what starts dependents (the model's healthcheck, the lanes of
``max_parallel``), and it only does so while its client process lives. So :func:`start` runs the
watcher as a background process in its own session: evalcompose can exit, be killed or be
Ctrl-C'd and the run goes on. What it leaves in ``<run>/.evalcompose/``:

    up.pid, up.started   its pid and process create time (psutil): a pid is trusted only while
                         both match, so a pid the system has since reused is never signalled
    up.token             the generation: a newer scheduler (resume) replaces it, and an older
                         one that is still winding down then never touches the model
    up.log               compose's output (each scheduler's section starts with a marker line)
    up.exit              the exit status of ``compose up -d`` (the tasks are started, or failed)
    up.done              the run is over and released: the model stopped, the networks removed

A scheduler that died (kill -9, reboot) leaves no ``up.done``: :func:`needs_reconcile` says so,
and ``control.status`` finishes its work.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..layout import COMPOSE_FILE, STATE_DIR
from .engine import Engine, compose_argv
from .process import spawn, whole_error

LOG_MARKER = "--- evalcompose scheduler"
_CREATED = re.compile(r"Container (\S+)\s+Created")
_STARTED = re.compile(r"Container (\S+)\s+(Started|Running|Healthy|Waiting)")


@dataclass(frozen=True)
class SchedulerState:
    """What the background ``up`` is doing.

    ``running``: its ``compose up -d`` is still starting containers; ``exit_code``: that command's
    status once it ended (None: unknown, e.g. killed); ``error``: compose's whole error when it
    failed; ``alive``: the process still lives (it may be waiting for the tasks to end);
    ``launched``: a scheduler was ever started for this run; ``done``: it finished its work.
    """

    running: bool
    exit_code: int | None
    error: str = ""
    alive: bool = False
    launched: bool = True
    done: bool = False


def state_dir(run_dir: Path) -> Path:
    """``<run>/.evalcompose`` (made when missing)."""
    path = run_dir / STATE_DIR
    path.mkdir(exist_ok=True)
    return path


def start(run_dir: Path, project: str, services: list[str] | None = None, files: tuple[str, ...] = (COMPOSE_FILE,),
          *, wait_for: list[str] | tuple[str, ...] = (), then_stop: str | None = None,
          env: Mapping[str, str] | None = None, engine: Engine | None = None,
          after_each: tuple[str, ...] | None = None) -> int:
    """Start the scheduler for the project in the background; returns its pid.

    An older scheduler of the same run is ended first (and waited for), so two never overlap.
    ``env`` (e.g. the env file's secrets) is added to the environment of that process only, never
    written anywhere. Once ``compose up -d`` returned, the scheduler waits for the ``wait_for``
    task services to end, then stops ``then_stop`` (the model: no GPU stays held) and removes the
    project's networks.
    With ``after_each`` (auto_export's hook), the watcher runs ``after_each + [SERVICE]`` as each of
    the ``wait_for`` services exits.
    """
    stop(run_dir, wait=True)
    state = state_dir(run_dir)
    for name in ("up.exit", "up.started", "up.done"):
        (state / name).unlink(missing_ok=True)
    token = secrets.token_hex(8)
    (state / "up.token").write_text(token, encoding="utf-8")
    with open(state / "up.log", "a", encoding="utf-8") as log:
        log.write(f"{LOG_MARKER} {time.strftime('%Y-%m-%dT%H:%M:%S')} token {token}\n")
    spec = {"run_dir": str(run_dir), "project": project, "token": token, "engine": str(engine or Engine()),
            "stop": [*compose_argv(run_dir, project, files, engine), "stop", then_stop] if then_stop else None,
            "wait_for": list(wait_for), "after_each": list(after_each) if after_each else None}
    up = [*compose_argv(run_dir, project, files, engine), "up", "-d", "--quiet-pull", *(services or [])]
    # compose up starts at once (no Python start-up on up's path); the same process then becomes
    # the watcher (exec: same pid, same create time, so its identity stays the recorded one).
    script = ('log="$1"; out="$2"; py="$3"; spec="$4"; shift 4; "$@" >>"$log" 2>&1; echo $? >"$out"; '
              'exec "$py" -m composer.runtime.watcher "$spec"')
    proc = spawn(["/bin/sh", "-c", script, "evalcompose-up", str(state / "up.log"), str(state / "up.exit"),
                  sys.executable, json.dumps(spec), *up], cwd=run_dir, env=env, detached=True)
    (state / "up.pid").write_text(str(proc.pid), encoding="utf-8")
    started = _create_time(proc.pid)
    if started is not None:
        (state / "up.started").write_text(repr(started), encoding="utf-8")
    return proc.pid


def state(run_dir: Path) -> SchedulerState:
    """The scheduler's state, read from the run folder (and psutil for the process)."""
    folder = run_dir / STATE_DIR
    launched = (folder / "up.pid").exists()
    alive = _live_pid(run_dir) is not None
    done = (folder / "up.done").exists()
    try:
        code: int | None = int((folder / "up.exit").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        code = None
    if code is not None:
        return SchedulerState(False, code, whole_error(last_section(_log(run_dir))) if code else "", alive, launched, done)
    return SchedulerState(alive, None, "", alive, launched, done)


def needs_reconcile(run_dir: Path) -> bool:
    """A scheduler was started, is dead, and did not finish its work (kill -9, a reboot)."""
    st = state(run_dir)
    return st.launched and not st.alive and not st.done


def mark_done(run_dir: Path) -> None:
    """Record that the run's end was handled (model stopped, networks released)."""
    (state_dir(run_dir) / "up.done").write_text(f"{time.time():.3f}\n", encoding="utf-8")


def is_current(run_dir: Path, token: str) -> bool:
    """``token`` is still the newest scheduler's: no resume has started another since."""
    try:
        return (run_dir / STATE_DIR / "up.token").read_text(encoding="utf-8").strip() == token
    except OSError:
        return False


def last_section(log: str) -> str:
    """The output of the newest scheduler (after the last marker line)."""
    at = log.rfind(LOG_MARKER)
    return log if at < 0 else log[log.find("\n", at) + 1:]


def created_containers(run_dir: Path) -> set[str]:
    """The container names compose reported as "Created" in the newest scheduler's log."""
    return set(_CREATED.findall(last_section(_log(run_dir))))


def started_containers(run_dir: Path) -> set[str]:
    """The container names compose reported as started (or waiting for a dependency) so far."""
    return {name for name, _ in _STARTED.findall(last_section(_log(run_dir)))}


def ended(run_dir: Path) -> bool:
    """The scheduler's ``compose up`` has returned (its exit status is written)."""
    return (run_dir / STATE_DIR / "up.exit").exists()


def stop(run_dir: Path, *, wait: bool = False, timeout: float = 15) -> None:
    """End the scheduler (its whole process group: compose included); harmless when it already ended.

    ``wait``: return only once it is gone (SIGKILL after ``timeout`` s), so nothing it would still
    do (stopping the model) can happen after this returns.
    """
    pid = _live_pid(run_dir)
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while _create_time(pid) is not None:
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            deadline = time.monotonic() + 5
        time.sleep(0.05)


def _log(run_dir: Path) -> str:
    try:
        return (run_dir / STATE_DIR / "up.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _live_pid(run_dir: Path) -> int | None:
    """The scheduler's pid while that very process lives (pid and create time both match)."""
    folder = run_dir / STATE_DIR
    try:
        pid = int((folder / "up.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    now = _create_time(pid)
    if now is None:
        return None
    try:
        recorded = float((folder / "up.started").read_text(encoding="utf-8"))
    except OSError:
        return pid  # a run folder written before create times were recorded: the pid alone
    except ValueError:
        return None
    return pid if abs(now - recorded) < 0.01 else None


def _create_time(pid: int) -> float | None:
    """The process's create time (psutil), None when no such process lives (zombies count as ended)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None

"""The scheduler: the background ``docker compose up -d`` of a run, and what it has done so far.

``docker compose up -d`` is what starts dependents (the tasks gated on the model's healthcheck;
then it stops the model once the tasks end), and it only does so while its client process lives. So :func:`start` runs it
as a background process in its own session, logging to ``.evalcompose/up.log`` and writing its
exit status to ``.evalcompose/up.exit``; evalcompose can exit, be killed or be Ctrl-C'd and the
run goes on. Its identity is recorded as ``up.pid`` (the pid) and ``up.started`` (the process's
create time, from psutil): :func:`state` and :func:`stop` trust a pid only while both match, so a
pid the system has since given to another process is never signalled.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..layout import COMPOSE_FILE, STATE_DIR
from .engine import Engine, compose_argv
from .process import first_error, spawn

_CREATED = re.compile(r"Container (\S+)\s+Created")


@dataclass(frozen=True)
class SchedulerState:
    """What the background ``up`` is doing: still ``running``, else its ``exit_code`` (None: unknown,
    e.g. killed) and, when it failed, the telling ``error`` line of its log."""

    running: bool
    exit_code: int | None
    error: str = ""


def state_dir(run_dir: Path, key: str = "") -> Path:
    """``<run>/.evalcompose`` (made when missing); ``key``: the folder of one engine's scheduler in it."""
    path = _folder(run_dir, key)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _folder(run_dir: Path, key: str = "") -> Path:
    return run_dir / STATE_DIR / key if key else run_dir / STATE_DIR


def start(run_dir: Path, project: str, services: list[str] | None = None, files: tuple[str, ...] = (COMPOSE_FILE,),
          *, wait_for: list[str] | tuple[str, ...] = (), then_stop: str | None = None,
          env: Mapping[str, str] | None = None, engine: Engine | None = None,
          after_each: tuple[str, ...] | None = None, key: str = "") -> int:
    """Start ``docker compose up -d`` for the project in the background; returns its pid.

    ``env`` (e.g. the env file's secrets) is added to the environment of that process only, never
    written anywhere. With ``then_stop`` (the model service), the same background process then
    waits for the ``wait_for`` task services to exit and stops the model, so no GPU stays held.
    With ``after_each`` (auto_export's hook), it runs ``after_each + [SERVICE]`` as each of the
    ``wait_for`` services exits, and lives until those commands end.
    """
    state = state_dir(run_dir, key)
    for name in ("up.exit", "up.started"):
        (state / name).unlink(missing_ok=True)
    base = compose_argv(run_dir, project, files, engine)
    script = 'log="$1"; out="$2"; shift 2; "$@" >>"$log" 2>&1; code=$?; echo $code >"$out"'
    argv = [*base, "up", "-d", "--quiet-pull", *(services or [])]
    compose = " ".join(shlex.quote(a) for a in base)
    if after_each:  # auto_export: one waiter per task, started once compose has created them all
        hook = " ".join(shlex.quote(a) for a in after_each)
        waiters = " ".join(f'( {compose} wait {shlex.quote(s)} >/dev/null 2>&1; {hook} {shlex.quote(s)} >>"$log" 2>&1 ) &'
                           for s in wait_for)
        script += f"; if [ $code = 0 ]; then {waiters} fi"
    if then_stop:
        waiting = " ".join(shlex.quote(s) for s in wait_for)
        script += (f'; if [ $code = 0 ]; then {compose} wait {waiting} >>"$log" 2>&1; fi'
                   f'; {compose} stop {shlex.quote(then_stop)} >>"$log" 2>&1')
    if after_each:
        script += "; wait"
    proc = spawn(["/bin/sh", "-c", script, "evalcompose-up", str(state / "up.log"), str(state / "up.exit"), *argv],
                 cwd=run_dir, env=env, detached=True)
    (state / "up.pid").write_text(str(proc.pid), encoding="utf-8")
    started = _create_time(proc.pid)
    if started is not None:
        (state / "up.started").write_text(repr(started), encoding="utf-8")
    return proc.pid


def state(run_dir: Path, key: str = "") -> SchedulerState:
    """The background ``up``'s state, read from the run folder (and psutil for the process)."""
    folder = _folder(run_dir, key)
    try:
        code: int | None = int((folder / "up.exit").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        code = None
    if code is not None:
        return SchedulerState(False, code, first_error(_log(run_dir, key)) if code else "")
    return SchedulerState(_live_pid(run_dir, key) is not None, None)


def created_containers(run_dir: Path, key: str = "") -> set[str]:
    """The container names compose reported as "Created" in the scheduler's log so far."""
    return set(_CREATED.findall(_log(run_dir, key)))


def ended(run_dir: Path, key: str = "") -> bool:
    """The scheduler's ``compose up`` has returned (its exit status is written)."""
    return (_folder(run_dir, key) / "up.exit").exists()


def stop(run_dir: Path, key: str = "") -> None:
    """End the background ``up`` (so nothing more starts); harmless when it already ended."""
    pid = _live_pid(run_dir, key)
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass


def _log(run_dir: Path, key: str = "") -> str:
    try:
        return (_folder(run_dir, key) / "up.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _live_pid(run_dir: Path, key: str = "") -> int | None:
    """The scheduler's pid while that very process lives (pid and create time both match)."""
    folder = _folder(run_dir, key)
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

"""Job states, computed from Docker itself plus what the containers wrote.

Nothing here is remembered: every call asks the engine (one ``compose ps``) and reads the run
folder, so the answer stays true after evalcompose dies, after a ``docker kill`` from outside and
after a daemon restart. The rules, per task container:

    none yet / created       PENDING   (FAILED if the scheduler has ended: it will never start)
    running                  RUNNING
    exited 0 + results.yml   SUCCESS
    killed by evalcompose, interrupted marker, or 137/143 (killed from outside)   KILLED
    any other exit           FAILED
    container removed        SUCCESS if results.yml exists, else FAILED or PENDING from its log
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .layout import ARTIFACTS, INTERRUPTED_MARKER, KILLED_MARKER, LOGS, STATE_DIR
from .states import JobState, SchedulerPhase
from .workspace import RunInfo

if TYPE_CHECKING:
    from .runmeta import TaskMeta
    from .runtime.scheduler import SchedulerState

PENDING, RUNNING, SUCCESS, FAILED, KILLED = (JobState.PENDING, JobState.RUNNING, JobState.SUCCESS, JobState.FAILED,
                                             JobState.KILLED)
TERMINAL = {SUCCESS, FAILED, KILLED}
_KILL_CODES = {137, 143}


@dataclass
class JobStatus:
    job_id: str
    task: str
    service: str
    state: JobState
    exit_code: int | None
    progress: str | None
    container: str | None
    run_dir: str
    detail: str = ""


@dataclass
class ModelStatus:
    service: str
    state: str  # created / running / exited / missing
    health: str  # starting / healthy / unhealthy / ""
    container: str | None


@dataclass
class RunStatus:
    invocation_id: str
    project: str
    run_dir: str
    scheduler: SchedulerPhase
    scheduler_error: str
    model: ModelStatus | None
    jobs: list[JobStatus]
    orphaned: bool = False  # the run folder is gone or unreadable: jobs from the containers' labels
    scheduler_alive: bool = False  # its process still lives (waiting for tasks, or stopping the model)

    @property
    def finished(self) -> bool:
        """Nothing will change any more: no scheduler at work (starting containers, or stopping the
        model after the last task), no job running (a job still PENDING then has no container and
        nothing that would make one: it never starts)."""
        return (self.scheduler != SchedulerPhase.RUNNING and not self.scheduler_alive
                and not any(j.state == RUNNING for j in self.jobs))

    @property
    def never_started(self) -> bool:
        return self.scheduler == SchedulerPhase.NEVER_STARTED

    def to_dict(self) -> dict:
        return asdict(self)


def collect(run: RunInfo, rows: list[dict], scheduler: SchedulerState) -> RunStatus:
    """The status of every job of ``run`` from the project's container rows."""
    by_service = {r.get("Service"): r for r in rows}
    running, code, error = scheduler.running, scheduler.exit_code, scheduler.error
    sched = SchedulerPhase.RUNNING if running else (SchedulerPhase.FAILED if code else SchedulerPhase.DONE)
    if not scheduler.launched and not rows:
        sched = SchedulerPhase.NEVER_STARTED
    run_killed = (run.run_dir / STATE_DIR / KILLED_MARKER).exists()
    jobs = [_job(run, task, by_service.get(task.service), sched, run_killed, error) for task in run.tasks]
    model = None
    if run.model:
        row = by_service.get(run.model.service)
        model = ModelStatus(run.model.service, row.get("State", "") if row else "missing",
                            row.get("Health", "") if row else "", row.get("Name") if row else None)
    return RunStatus(run.invocation_id, run.project, str(run.run_dir), sched, error, model, jobs, run.orphaned,
                     scheduler.alive)


def _job(run: RunInfo, task: TaskMeta, row: dict | None, sched: str, run_killed: bool, sched_error: str) -> JobStatus:
    task_dir = run.task_dir(task)
    artifacts = task_dir / ARTIFACTS
    has_results = (artifacts / "results.yml").is_file()
    killed = run_killed or (task_dir / LOGS / KILLED_MARKER).exists()
    interrupted = (artifacts / INTERRUPTED_MARKER).exists()
    state_in_docker = row.get("State") if row else None
    code = row.get("ExitCode") if row and state_in_docker in ("exited", "dead") else None
    detail = ""
    if state_in_docker in ("running", "restarting", "paused"):
        state = RUNNING
    elif state_in_docker in ("exited", "dead"):
        if code == 0 and has_results:
            state = SUCCESS
        elif killed or interrupted or code in _KILL_CODES:
            state = KILLED
        else:
            state = FAILED
            detail = "exited 0 without results.yml" if code == 0 else _failure(task_dir, code)
    elif state_in_docker == "created" or row is None:
        if has_results:
            state = SUCCESS
        elif killed:
            state = KILLED
        elif sched == SchedulerPhase.RUNNING:
            state = PENDING
        elif row is None and _logged(task_dir):
            state, detail = FAILED, "container removed before it finished"
        elif sched == SchedulerPhase.NEVER_STARTED:
            state, detail = PENDING, f"never started (start it: evalcompose resume {run.invocation_id})"
        elif row is None and sched != SchedulerPhase.FAILED:
            state, detail = PENDING, "not started"
        else:
            state, detail = FAILED, f"never started: {sched_error or 'the scheduler ended'}"
    else:
        state, detail = FAILED, f"container state {state_in_docker}"
    return JobStatus(task.job_id, task.task, task.service, state, code, read_progress(task_dir / ARTIFACTS),
                     row.get("Name") if row else None, str(task_dir), detail)


def _failure(task_dir: Path, code: int | None) -> str:
    """What a failed task's log says went wrong (the target refused, answered 503, ...), and where to read more."""
    from .diagnose import diagnose_task

    log = task_dir / LOGS / "stdout.log"
    found = diagnose_task(task_dir)
    return f"exit code {code}: {found}; see {log}" if found else f"exit code {code}: see {log}"


def _logged(task_dir: Path) -> bool:
    log = task_dir / LOGS / "stdout.log"
    return log.is_file() and log.stat().st_size > 0


def read_progress(artifacts: Path) -> str | None:
    """``done/total`` from the harness's progress file, or the interceptor's sample count."""
    for path in sorted(artifacts.glob("*/progress.json")) if artifacts.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return f"{int(data['done'])}/{int(data['total'])}"
        except (OSError, ValueError, KeyError, TypeError):
            continue
    counter = artifacts / "progress"
    if counter.is_file():
        text = counter.read_text(encoding="utf-8", errors="replace").strip()
        return text.splitlines()[-1] if text else None
    return None

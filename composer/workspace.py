"""The run folder on disk, and the small index that finds run folders by invocation id.

Writing is all-or-nothing: files go to a hidden sibling folder that is renamed into place, so an
error never leaves a half-written run. Result and log folders are created here, by the user who
runs evalcompose, before any container starts (a bind source Docker creates would be root's).

The index (``$EVALCOMPOSE_HOME``, default ``~/.local/state/evalcompose``) holds one small file
per invocation with the absolute path of its run folder; labels on containers say the same while
the containers exist.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .errors import BadRunId, ConfigError, HostError, RunFolderUnreadable, RunNotFound
from .escaping import unescape
from .layout import ARTIFACTS, COMPOSE_FILE, ENTRYPOINT_FILE, KILLED_MARKER, LOGS, STATE_DIR
from .runmeta import FORMAT_VERSION, ModelMeta, RunMeta, TaskMeta, parse_run_meta

if TYPE_CHECKING:
    from .plan import Plan


def state_home() -> Path:
    return Path(os.environ.get("EVALCOMPOSE_HOME") or Path.home() / ".local" / "state" / "evalcompose")


def check_output_dir(folder: Path) -> None:
    """Before anything is built or written: ``folder`` (execution.output_dir) can hold a run folder.

    A file in the way is the config's fault (:class:`ConfigError`, exit 2); a folder the user may
    not write is the host's (:class:`HostError`, exit 3). Nothing is created here.
    """
    key = "execution.output_dir"
    probe = Path(folder)
    try:
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        is_file = probe.exists() and not probe.is_dir()
    except OSError as exc:  # exists() raises for a name too long, or a folder on the way we may not search
        if exc.errno == errno.ENAMETOOLONG:
            raise ConfigError(key, "the path is too long (a name of at most 255 bytes, 4096 in all)",
                              hint="choose a shorter output_dir") from None
        raise HostError(f"{key}: cannot look into {probe}: {_reason(exc)}",
                        hint="choose a folder you can write, or fix its permissions") from None
    if is_file:
        where = "is a file" if probe == Path(folder) else f"is under a file ({probe})"
        raise ConfigError(key, f"{folder} {where}", hint="give a folder path (it is created when missing)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise HostError(f"{key}: cannot write in {probe}", hint="choose a folder you can write, or fix its permissions")


def write_run(plan: Plan, files: dict[str, str]) -> Path:
    """Write the rendered files (and empty results/logs folders) to ``plan.run_dir`` atomically.

    Any OS failure (read-only file system, full disk, a file in the way) is one error, and the
    hidden staging folder is removed: no half-written run folder is left.
    """
    check_output_dir(plan.run_dir.parent)
    try:
        final = _write_run(plan, files)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise HostError(f"execution.output_dir: cannot write the run folder in {plan.run_dir.parent}: {_reason(exc)}",
                        hint="free some space, or choose another output_dir" if full
                        else "choose an output_dir you can write") from None
    try:
        register(plan.invocation_id, final)
    except OSError as exc:
        shutil.rmtree(final, ignore_errors=True)
        raise HostError(f"cannot write evalcompose's state folder {state_home()}: {_reason(exc)}",
                        hint="set EVALCOMPOSE_HOME to a folder you can write") from None
    return final


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _write_run(plan: Plan, files: dict[str, str]) -> Path:
    final = plan.run_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for task in plan.tasks:
            for sub in (ARTIFACTS, LOGS):
                (staging / task.service / sub).mkdir(parents=True, exist_ok=True)
        (staging / ENTRYPOINT_FILE).chmod(0o755)
        staging.chmod(0o755)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def register(invocation_id: str, run_dir: Path) -> None:
    """Remember where an invocation's run folder is."""
    index = state_home() / "runs"
    index.mkdir(parents=True, exist_ok=True)
    (index / f"{invocation_id}.json").write_text(json.dumps({"run_dir": str(run_dir.resolve())}), encoding="utf-8")


def registered_runs() -> dict[str, Path]:
    """Invocation id -> run folder, for every registered run (its folder may be gone since)."""
    index = state_home() / "runs"
    out: dict[str, Path] = {}
    for entry in sorted(index.glob("*.json")) if index.is_dir() else []:
        try:
            out[entry.stem] = Path(json.loads(entry.read_text(encoding="utf-8"))["run_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def known_runs() -> dict[str, Path]:
    """Invocation id -> run folder, for every registered run whose folder still exists."""
    return {inv: path for inv, path in registered_runs().items() if (path / COMPOSE_FILE).is_file()}


@dataclass(frozen=True)
class RunInfo:
    """What a run folder says about itself (the ``x-evalcompose`` block of its compose.yaml)."""

    invocation_id: str
    run_dir: Path
    project: str
    meta: RunMeta
    orphaned: bool = False  # known only from its containers' labels: the run folder is gone or unreadable

    @property
    def tasks(self) -> list[TaskMeta]:
        return self.meta.tasks

    @property
    def model(self) -> ModelMeta | None:
        return self.meta.model

    def task_dir(self, task: TaskMeta) -> Path:
        return self.run_dir / task.service


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: status parses compose.yaml on every call


def read_run(run_dir: Path) -> RunInfo:
    """Read a run folder's metadata; :class:`RunNotFound` when it is not one of ours,
    :class:`~composer.errors.IncompatibleRun` when a newer or older evalcompose wrote it."""
    path = Path(run_dir) / COMPOSE_FILE
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        meta = parse_run_meta(unescape(doc["x-evalcompose"]), str(run_dir))  # compose.yaml writes a literal $ as $$
        return RunInfo(meta.invocation_id, Path(run_dir).resolve(), doc["name"], meta)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        why = f" ({exc})" if isinstance(exc, ValueError) else ""
        raise RunNotFound(f"{run_dir} is not an evalcompose run folder{why}",
                          hint="it has no compose.yaml written by evalcompose") from None


_REF = re.compile(r"([0-9a-f]{1,16})(?:\.(\d{1,6}))?")


def parse_run_ref(ref: str) -> tuple[str, str | None]:
    """``(invocation prefix, job index or None)`` of a run reference: a 1-16 hex-digit invocation id
    or prefix, optionally ``.<n>``. Anything else (``""``, ``.``, ``..``, a path) is :class:`BadRunId`."""
    found = _REF.fullmatch(ref.lower()) if isinstance(ref, str) else None
    if not found:
        shown = repr(ref) if len(ref) <= 40 else repr(ref[:40] + "...")
        raise BadRunId(f"{shown} is not a run id",
                       hint="give an invocation id, a unique prefix of one, or a job id <invocation>.<n> (evalcompose ls runs)")
    return found.group(1), found.group(2)


def find_run(ref: str, *, allow_folder: bool = False) -> tuple[RunInfo, str | None]:
    """Resolve an invocation id, a job id (``<invocation>.<n>``) or a unique prefix of either.

    Returns the run and, for a job id, the service of that job. ``allow_folder`` (read-only
    commands: results, export, report) also takes a path to a run folder, written with a ``/``.
    :class:`RunFolderUnreadable` when the index knows the run but its folder is gone or unreadable.
    """
    if allow_folder and "/" in ref:
        return read_run(Path(ref)), None
    inv, index = parse_run_ref(ref)
    runs = registered_runs()
    matches = sorted(i for i in runs if i.startswith(inv))
    if not matches:
        raise RunNotFound(f"no run matches '{ref}'", hint="list runs with: evalcompose ls runs")
    if len(matches) > 1 and inv not in matches:
        raise RunNotFound(f"'{ref}' matches {len(matches)} runs: {', '.join(matches[:5])}", hint="give more characters")
    found = inv if inv in matches else matches[0]
    try:
        run = read_run(runs[found])
    except RunNotFound:
        raise RunFolderUnreadable(f"the run folder of {found} ({runs[found]}) is missing or unreadable",
                                  hint=f"evalcompose down {found} removes its containers",
                                  invocation_id=found, run_dir=str(runs[found])) from None
    return run, job_service(run, index)


def job_service(run: RunInfo, index: str | None) -> str | None:
    """The service of job ``index`` of ``run`` (None for the whole run); :class:`RunNotFound` if it has none."""
    if index is None:
        return None
    for task in run.tasks:
        if str(task.index) == index:
            return task.service
    raise RunNotFound(f"invocation {run.invocation_id} has no job {index}",
                      hint=f"its jobs are {run.invocation_id}.0 to .{len(run.tasks) - 1}")


def orphan_run(invocation_id: str, rows: list[dict], run_dir: str | None = None) -> RunInfo:
    """A run known only from its containers' labels (``docker ps`` rows): its folder is gone or unreadable.

    Enough for ``status`` and ``down``: the project, the jobs (service, job id, task, index) and the model.
    """
    tasks: list[TaskMeta] = []
    model, project = None, f"evalcompose-{invocation_id}"
    for row in rows:
        labels = row_labels(row)
        project = labels.get("com.docker.compose.project", project)
        run_dir = run_dir or labels.get("com.docker.compose.project.working_dir")
        service = labels.get("com.docker.compose.service", "")
        if labels.get("evalcompose.role") == "model":
            model = ModelMeta(service=service, kind="", image=row.get("Image", ""))
        elif labels.get("evalcompose.role") == "task":
            index = labels.get("evalcompose.index", "")
            task = labels.get("evalcompose.task", service)
            tasks.append(TaskMeta(job_id=labels.get("evalcompose.job", ""), index=int(index) if index.isdigit() else 0,
                                  service=service, task=task, harness=task.partition(".")[0],
                                  image=row.get("Image", ""), endpoint_type=""))
    tasks.sort(key=lambda t: t.index)
    meta = RunMeta(format_version=FORMAT_VERSION, generator="container labels", invocation_id=invocation_id,
                   created="", model=model, tasks=tasks)
    return RunInfo(invocation_id, Path(run_dir or "."), project, meta, orphaned=True)


def row_labels(row: dict) -> dict[str, str]:
    """The labels of a ``docker ps --format '{{json .}}'`` row (a comma-separated ``k=v`` string)."""
    labels = row.get("Labels") or ""
    if isinstance(labels, dict):
        return labels
    return dict(p.split("=", 1) for p in labels.split(",") if "=" in p)


def write_file(path: Path, text: str) -> None:
    """Write one file atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def mark_killed(run: RunInfo, service: str | None) -> None:
    """Remember that evalcompose stopped a job (or the whole run), so status says KILLED."""
    target = (run.run_dir / service / LOGS) if service else (run.run_dir / STATE_DIR)
    target.mkdir(parents=True, exist_ok=True)
    (target / KILLED_MARKER).write_text("killed by evalcompose\n", encoding="utf-8")


def clear_kill_markers(run: RunInfo, services: list[str]) -> None:
    (run.run_dir / STATE_DIR / KILLED_MARKER).unlink(missing_ok=True)
    for service in services:
        (run.run_dir / service / LOGS / KILLED_MARKER).unlink(missing_ok=True)

"""The run folder on disk, and the small index that finds run folders by invocation id.

Writing is all-or-nothing: files go to a hidden sibling folder that is renamed into place, so an
error never leaves a half-written run. Result and log folders are created here, by the user who
runs evalcompose, before any container starts (a bind source Docker creates would be root's).

The index (``$EVALCOMPOSE_HOME``, default ``~/.local/state/evalcompose``) holds one small file
per invocation with the absolute path of its run folder; labels on containers say the same while
the containers exist.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .plan import Plan
from .render import COMPOSE_FILE


def state_home() -> Path:
    return Path(os.environ.get("EVALCOMPOSE_HOME") or Path.home() / ".local" / "state" / "evalcompose")


def write_run(plan: Plan, files: dict[str, str]) -> Path:
    """Write the rendered files (and empty results/logs folders) to ``plan.run_dir`` atomically."""
    final = plan.run_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for task in plan.tasks:
            for sub in ("artifacts", "logs"):
                (staging / task.service / sub).mkdir(parents=True, exist_ok=True)
        (staging / "evalcompose-task.sh").chmod(0o755)
        staging.chmod(0o755)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    register(plan.invocation_id, final)
    return final


def register(invocation_id: str, run_dir: Path) -> None:
    """Remember where an invocation's run folder is."""
    index = state_home() / "runs"
    index.mkdir(parents=True, exist_ok=True)
    (index / f"{invocation_id}.json").write_text(json.dumps({"run_dir": str(run_dir.resolve())}), encoding="utf-8")


def known_runs() -> dict[str, Path]:
    """Invocation id -> run folder, for every registered run whose folder still exists."""
    index = state_home() / "runs"
    out: dict[str, Path] = {}
    for entry in sorted(index.glob("*.json")) if index.is_dir() else []:
        try:
            run_dir = Path(json.loads(entry.read_text(encoding="utf-8"))["run_dir"])
        except (OSError, ValueError, KeyError):
            continue
        if (run_dir / COMPOSE_FILE).is_file():
            out[entry.stem] = run_dir
    return out

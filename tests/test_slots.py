"""The work-conserving cap's pure parts: the resume override's new line, and PENDING for a task
whose container runs but waits for a slot (read from what its entrypoint wrote)."""

from __future__ import annotations

from pathlib import Path

import yaml
from evalcompose_testlib import FIXED_CWD, FIXED_ID, FIXED_NOW, FIXED_USER, write_config

from composer.catalog import load_catalog
from composer.config.loader import load_config
from composer.plan import build_plan
from composer.render import render, resume_override
from composer.runtime import SchedulerState
from composer.status import PENDING, RUNNING, collect
from composer.workspace import RunInfo, read_run


def test_resume_override_gives_the_unfinished_tasks_a_new_line_in_config_order() -> None:
    doc = yaml.safe_load(resume_override(["b", "d", "e"], 2, "resume-7"))
    envs = [doc["services"][s]["environment"] for s in ("b", "d", "e")]
    assert [e["EVALCOMPOSE_TICKET"] for e in envs] == ["0", "1", "2"]
    assert {e["EVALCOMPOSE_GENERATION"] for e in envs} == {"resume-7"}
    assert {e["EVALCOMPOSE_SLOTS"] for e in envs} == {"2"}
    assert all("depends_on" not in doc["services"][s] for s in ("b", "d", "e"))


def test_resume_override_without_cap_sets_nothing() -> None:
    doc = yaml.safe_load(resume_override(["a"], None, "resume-1"))
    assert doc["services"]["a"]["environment"] == {}


def _run(tmp_path: Path) -> RunInfo:
    """A real run folder's compose.yaml (two tasks, max_parallel 1) and the entrypoint's slot files."""
    text = ("execution:\n  output_dir: out\n  mode: sequential\ntarget:\n  api_endpoint:\n    model_id: m\n"
            "    url: https://example.invalid/v1/chat/completions\nevaluation:\n  tasks:\n"
            "    - name: lm-evaluation-harness.ifeval\n    - name: simple_evals.mmlu_pro\n")
    loaded = load_config(write_config(tmp_path, text), [], {})
    plan = build_plan(loaded, load_catalog(), invocation_id=FIXED_ID, now=FIXED_NOW, user=FIXED_USER, cwd=FIXED_CWD)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "compose.yaml").write_text(render(plan)["compose.yaml"], encoding="utf-8")
    for task, words in zip(plan.tasks, ("started 1.0 slot 0", "waiting 1.0"), strict=True):
        (run_dir / task.service / "logs").mkdir(parents=True)
        (run_dir / task.service / "logs" / "slot").write_text(words + "\n", encoding="utf-8")
    return read_run(run_dir)


def test_a_running_container_waiting_for_a_slot_is_pending(tmp_path: Path) -> None:
    run = _run(tmp_path)
    first, second = (t.service for t in run.tasks)
    rows = [{"Service": s, "State": "running", "Name": f"c-{s}"} for s in (first, second)]
    jobs = {j.service: j for j in collect(run, rows, SchedulerState(True, None)).jobs}
    assert jobs[first].state == RUNNING
    assert jobs[second].state == PENDING and jobs[second].detail.startswith("waiting for a slot")

"""The work-conserving cap's pure parts: the resume override's new line, and PENDING for a task
whose container runs but waits for a slot (read from what its entrypoint wrote)."""

from __future__ import annotations

from pathlib import Path

import yaml

from composer.render import resume_override
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
    meta = {"invocation_id": "0123456789abcdef", "max_parallel": 1, "model": None,
            "tasks": [{"job_id": "0123456789abcdef.0", "index": 0, "service": "a", "task": "h.a"},
                      {"job_id": "0123456789abcdef.1", "index": 1, "service": "b", "task": "h.b"}]}
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump({"name": "evalcompose-0123456789abcdef",
                                                            "x-evalcompose": meta}), encoding="utf-8")
    for service, words in (("a", "started 1.0 slot 0"), ("b", "waiting 1.0")):
        (tmp_path / service / "logs").mkdir(parents=True)
        (tmp_path / service / "logs" / "slot").write_text(words + "\n", encoding="utf-8")
    return read_run(tmp_path)


def test_a_running_container_waiting_for_a_slot_is_pending(tmp_path: Path) -> None:
    rows = [{"Service": s, "State": "running", "Name": f"c-{s}"} for s in ("a", "b")]
    jobs = {j.service: j for j in collect(_run(tmp_path), rows, (True, None, "")).jobs}
    assert jobs["a"].state == RUNNING
    assert jobs["b"].state == PENDING and jobs["b"].detail.startswith("waiting for a slot")

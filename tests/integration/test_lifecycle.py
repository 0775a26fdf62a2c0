"""Issue 3 #5, #7, #8 on a real engine: status stays true after a ``docker kill`` from outside,
graceful ``evalcompose kill`` (of a job and of a whole invocation), and ``resume`` over the same
artifacts, proved with the stand-in's request log (nemo-evaluator's cache sends nothing twice).
"""

from __future__ import annotations

import collections
import sqlite3
import time

import pytest

from .conftest import containers_by_service, docker, docker_time, inspect, progress_done

pytestmark = pytest.mark.docker

LATENCY_MS = 400  # per completion request: makes tasks long enough to act on while they run


def _container(project: str, service: str) -> dict:
    [c] = containers_by_service(project)[service]
    return c


def _cached_responses(task_dir) -> int:
    """Rows in nemo-evaluator's response cache (a diskcache SQLite file)."""
    db = task_dir / "artifacts" / "cache" / "responses" / "cache.db"
    assert db.is_file(), f"no response cache at {db}"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM Cache").fetchone()[0]


def _long_tasks(n_samples: int = 60) -> list[dict]:
    return [{"name": "arithmetic", "nemo_evaluator_config": {"config": {"params": {"limit_samples": n_samples}}}},
            {"name": "arithmetic_completions",
             "nemo_evaluator_config": {"config": {"params": {"limit_samples": n_samples}}}}]


def test_docker_kill_from_outside_shows_killed_and_other_job_goes_on(ec):
    cfg = ec.config(tasks=_long_tasks(40), parallelism=1, standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = ec.up_detached(cfg)
    inv, project = info["invocation_id"], info["project"]
    ec.wait_running(inv, min_progress=2, timeout=60)

    victim = _container(project, "arithmetic")
    docker("kill", victim["Id"])  # SIGKILL from outside: evalcompose is not involved
    exit_code = inspect(victim["Id"])["State"]["ExitCode"]
    assert exit_code == 137
    jobs = ec.jobs(inv)
    assert jobs["arithmetic"]["state"] == "KILLED", jobs["arithmetic"]
    assert jobs["arithmetic"]["exit_code"] == exit_code
    assert jobs["arithmetic_completions"]["state"] == "RUNNING"
    # the same answer for its job id, its prefix form and the invocation prefix
    assert ec.status(f"{inv[:8]}.0")["jobs"][0]["state"] == "KILLED"
    assert [j["job_id"] for j in ec.status(f"{inv}.1")["jobs"]] == [f"{inv}.1"]


def test_kill_a_job_then_the_invocation(ec):
    cfg = ec.config(tasks=_long_tasks(60), parallelism=1, standin={"STANDIN_LATENCY_MS": LATENCY_MS},
                    request_log=True)
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    ec.wait_running(inv, min_progress=3, timeout=60)

    # 1. one job: only that job stops
    t0 = time.time()
    ec.cli("kill", f"{inv}.1", expect=0, timeout=60)
    cli_seconds = time.time() - t0
    stopped = inspect(_container(project, "arithmetic_completions")["Id"])["State"]
    assert stopped["Status"] == "exited"
    assert docker_time(stopped["FinishedAt"]) - t0 < 5, "the job's container should stop within seconds"
    assert cli_seconds < 10
    jobs = ec.jobs(inv)
    assert jobs["arithmetic_completions"]["state"] == "KILLED", jobs
    assert jobs["arithmetic"]["state"] == "RUNNING", "killing one job must not touch the other"
    assert inspect(_container(project, "model")["Id"])["State"]["Status"] == "running"
    assert (run_dir / "arithmetic_completions" / "artifacts" / ".nemo_evaluator_interrupted").is_file()

    # 2. the whole invocation
    done_before = progress_done(ec.jobs(inv)["arithmetic"])
    t0 = time.time()
    ec.cli("kill", inv, expect=0, timeout=60)
    cli_seconds = time.time() - t0
    by_service = containers_by_service(project)
    task_state = by_service["arithmetic"][0]["State"]
    model_state = by_service["model"][0]["State"]
    assert task_state["Status"] == "exited" and model_state["Status"] == "exited"
    stop_seconds = docker_time(task_state["FinishedAt"]) - t0
    assert stop_seconds < 5, f"the task took {stop_seconds:.1f} s to stop"
    assert cli_seconds < 15
    print(f"kill: task container stopped {stop_seconds:.2f} s after the command, CLI took {cli_seconds:.2f} s")
    # tasks first, the model last
    assert docker_time(model_state["FinishedAt"]) >= docker_time(task_state["FinishedAt"])
    st = ec.status(inv)
    assert [j["state"] for j in st["jobs"]] == ["KILLED", "KILLED"], st["jobs"]
    assert st["model"]["state"] == "exited"
    for service in ("arithmetic", "arithmetic_completions"):
        artifacts = run_dir / service / "artifacts"
        assert (artifacts / ".nemo_evaluator_interrupted").is_file(), f"{service}: no interrupted marker"
        assert not (artifacts / "results.yml").exists()
    # what was already answered stays in the cache (and is what resume will reuse)
    cached = _cached_responses(run_dir / "arithmetic")
    answered = [r for r in ec.requests() if r["path"] == "/v1/chat/completions" and r["status"] == 200]
    assert cached >= max(1, done_before - 1), (cached, done_before)
    assert cached <= len(answered)


def test_resume_restarts_only_unfinished_tasks_and_sends_no_request_twice(ec):
    short, long_ = 3, 40
    tasks = [{"name": "arithmetic", "nemo_evaluator_config": {"config": {"params": {"limit_samples": short}}}},
             {"name": "arithmetic_completions",
              "nemo_evaluator_config": {"config": {"params": {"limit_samples": long_}}}}]
    cfg = ec.config(tasks=tasks, parallelism=1, standin={"STANDIN_LATENCY_MS": 200}, request_log=True)
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    ec.wait_status(inv, lambda s: s["jobs"][0]["state"] == "SUCCESS" and s["jobs"][1]["state"] == "RUNNING"
                   and progress_done(s["jobs"][1]) >= 8, timeout=90, what="task 0 done, task 1 half-way")

    finished = inspect(_container(project, "arithmetic")["Id"])["State"]
    finished_log = (run_dir / "arithmetic" / "logs" / "stdout.log").read_bytes()
    kill_time = time.time()
    ec.cli("kill", inv, expect=0, timeout=60)
    jobs = ec.jobs(inv)
    assert jobs["arithmetic"]["state"] == "SUCCESS", "a finished task stays SUCCESS after kill"
    assert jobs["arithmetic_completions"]["state"] == "KILLED"
    cached_before = _cached_responses(run_dir / "arithmetic_completions")
    assert 0 < cached_before < long_

    resume_time = time.time()
    out = ec.cli("resume", inv, expect=0, timeout=120).stdout
    assert "arithmetic_completions" in out and "arithmetic," not in out
    right_after = ec.jobs(inv)["arithmetic_completions"]
    assert right_after["state"] in ("PENDING", "RUNNING"), f"a resumed job is not finished: {right_after}"
    st = ec.wait_finished(inv, timeout=120)
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS", "SUCCESS"], st["jobs"]

    # the SUCCESS task was not started again: same container start, log not appended
    again = inspect(_container(project, "arithmetic")["Id"])["State"]
    assert again["StartedAt"] == finished["StartedAt"]
    assert (run_dir / "arithmetic" / "logs" / "stdout.log").read_bytes() == finished_log
    # the resumed task ran again (a second run in its log) and finished every sample
    log = (run_dir / "arithmetic_completions" / "logs" / "stdout.log").read_text(encoding="utf-8")
    assert log.count("evalcompose-bench: task=arithmetic_completions") == 2
    assert (run_dir / "arithmetic_completions" / "artifacts" / "results.yml").is_file()

    # the request log: every sample was answered, and nothing that had been answered (and cached)
    # before the kill was sent again; only a request in flight at the kill may repeat
    requests = [r for r in ec.requests() if r["status"] == 200]
    by_path = collections.defaultdict(list)
    for r in requests:
        by_path[r["path"]].append(r)
    chat, completions = by_path["/v1/chat/completions"], by_path["/v1/completions"]
    assert len({r["sha"] for r in chat}) == short and len(chat) == short
    assert len({r["sha"] for r in completions}) == long_
    seen: dict[str, float] = {}
    repeated = []
    for r in completions:
        if r["sha"] in seen:
            repeated.append((r["sha"], seen[r["sha"]]))
        else:
            seen[r["sha"]] = r["ts"]
    assert all(first_ts > kill_time - 2 for _, first_ts in repeated), \
        f"requests answered well before the kill were sent again: {repeated}"
    assert len(repeated) <= 1, f"at most the one request in flight (parallelism 1) may repeat: {repeated}"
    assert len(completions) == long_ + len(repeated)
    sent_after_resume = [r for r in completions if r["ts"] >= resume_time]
    assert len(sent_after_resume) == long_ - cached_before, "resume sends exactly what the cache lacks"

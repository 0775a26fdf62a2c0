"""Issue 4 on a real engine, with ``deployment: generic`` running the model stand-in on the CPU:
order (no task request before the model is healthy), sharing (N tasks, one server started once),
the failure paths (never healthy; killed mid-run, then resume) and the lifecycle (status shows the
model's state and health, kill stops the tasks first and the model last, down removes it).
"""

from __future__ import annotations

import collections
import json
import time

import pytest

from .conftest import (compose, containers_by_service, docker, docker_time, inspect, progress_done,
                       project_containers, project_networks)

pytestmark = pytest.mark.docker

STARTUP_DELAY_S = 3


def _seeded(name: str, seed: int) -> dict:
    """A task entry with its own question seed, so each task's request bodies are its own."""
    return {"name": name, "nemo_evaluator_config": {"config": {"params": {"extra": {"seed": seed}}}}}


def _request_records(text: str) -> list[dict]:
    """The request records in the stand-in's container output (threads may glue two on one line)."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while (start := text.find("{", pos)) != -1:
        try:
            obj, pos = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        if isinstance(obj, dict) and obj.get("sha"):
            out.append(obj)
    return out


def test_order_and_sharing_one_model_started_once_healthy_before_any_request(ec):
    """The stand-in answers /health 503 for STARTUP_DELAY_S after it starts (health probes are NOT in
    its request log, by design; a completion request before it is ready would be logged with status
    503 and note "not ready"). So: every request logged with 200, the first one and every task
    container's start at or after the model container's StartedAt + the delay."""
    n_samples = 5
    tasks = [_seeded("arithmetic", 1), _seeded("arithmetic", 2), _seeded("arithmetic_completions", 3)]
    cfg = ec.config(tasks=tasks, limit_samples=n_samples, request_log=True,
                    standin={"STANDIN_STARTUP_DELAY_S": STARTUP_DELAY_S})
    info = ec.up_detached(cfg)
    inv, project = info["invocation_id"], info["project"]

    # status --json shows the model's state and health while it loads, then when it serves
    seen_health = set()

    def model_serving(st):
        seen_health.add((st["model"]["state"], st["model"]["health"]))
        return st["model"]["health"] == "healthy" or any(j["state"] != "PENDING" for j in st["jobs"])

    st = ec.wait_status(inv, model_serving, timeout=60, what="the model to get healthy")
    assert ("running", "starting") in seen_health, seen_health
    assert all(j["state"] in ("PENDING", "RUNNING") for j in st["jobs"]), st["jobs"]
    final = ec.wait_finished(inv, timeout=120)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS"] * 3, final["jobs"]
    # the scheduler stops the model a moment after the last task exited: wait for it to be done
    ec.wait_status(inv, lambda s: not s["scheduler_alive"] and s["scheduler"] != "running", 60,
                   "the scheduler to stop the model and end")

    # SHARING: one model container, started once, for the whole run
    by_service = containers_by_service(project)
    assert len(by_service["model"]) == 1
    model = by_service["model"][0]
    assert model["RestartCount"] == 0
    model_started = docker_time(model["State"]["StartedAt"])
    assert model["State"]["Status"] == "exited", "the scheduler stops the model once every task exited"
    assert sorted(by_service) == sorted(["model", "arithmetic", "arithmetic-2", "arithmetic_completions"])
    requests = ec.requests()
    completions = [r for r in requests if r.get("sha")]
    assert len(completions) == 3 * n_samples, collections.Counter(r["path"] for r in completions)
    assert collections.Counter(r["path"] for r in completions) == {"/v1/chat/completions": 2 * n_samples,
                                                                   "/v1/completions": n_samples}
    assert len({r["sha"] for r in completions}) == 3 * n_samples, "each task sent its own questions"
    assert {r["model"] for r in completions} == {"standin"}
    # ... and the one container's own output holds exactly the same requests
    logged_by_container = _request_records(docker("logs", model["Id"]).stdout)
    assert sorted(r["sha"] for r in logged_by_container) == sorted(r["sha"] for r in completions)

    # ORDER: no task started, and no request arrived, before the model was healthy
    ready_at = model_started + STARTUP_DELAY_S
    assert all(r["status"] == 200 for r in completions), "no request was answered 'model is loading'"
    assert not [r for r in requests if r.get("note") == "not ready"]
    first_request = min(r["ts"] for r in completions)
    assert first_request >= ready_at, f"first request {first_request - model_started:.2f} s after model start"
    for service in ("arithmetic", "arithmetic-2", "arithmetic_completions"):
        started = docker_time(by_service[service][0]["State"]["StartedAt"])
        assert started >= ready_at, f"{service} started {started - model_started:.2f} s after the model"


def test_model_never_healthy_no_task_starts_and_up_fails_clearly(ec):
    timeout_s = 5
    cfg = ec.config(tasks=["arithmetic", "arithmetic_completions"], readiness_timeout=timeout_s,
                    standin={"STANDIN_NEVER_READY": 1})
    t0 = time.monotonic()
    result = ec.cli("up", str(cfg), timeout=120)
    elapsed = time.monotonic() - t0
    assert result.returncode != 0
    assert elapsed < timeout_s + 15, f"up took {elapsed:.1f} s"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    [(inv, run_dir)] = ec.registered_runs().items()
    project = f"evalcompose-{inv}"
    assert "healthy" in errors[0] and f"docker compose -p {project} logs model" in errors[0], errors[0]
    # no task container ever started
    by_service = containers_by_service(project)
    for service in ("arithmetic", "arithmetic_completions"):
        for c in by_service.get(service, []):
            assert c["State"]["Status"] == "created", c["State"]
            assert docker_time(c["State"]["StartedAt"]) is None
        assert not (run_dir / service / "logs" / "stdout.log").exists() or \
            (run_dir / service / "logs" / "stdout.log").stat().st_size == 0
    st = ec.status(inv)
    assert st["scheduler"] == "failed"
    for job in st["jobs"]:
        assert job["state"] == "FAILED" and "never started" in job["detail"], job
    # the hint's command works and shows the server's output
    shown = compose("-p", project, "logs", "model")
    assert '"event": "listening"' in shown.stdout


def test_model_killed_mid_run_fails_tasks_visibly_and_resume_brings_it_back_first(ec):
    # A request in flight when the model is SIGKILLed never gets an answer (no RST from a vanished
    # container; nemo-evaluator's adapter sets no timeout), so the runner's request_timeout ends it.
    n_samples, parallelism = 30, 2
    cfg = ec.config(tasks=["arithmetic", "arithmetic_completions"], limit_samples=n_samples,
                    parallelism=parallelism, max_retries=0, request_log=True, standin={"STANDIN_LATENCY_MS": 300},
                    set={"evaluation.nemo_evaluator_config.config.params.request_timeout": 5})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    ec.wait_running(inv, min_progress=parallelism, timeout=60)

    docker("kill", containers_by_service(project)["model"][0]["Id"])
    t_kill = time.monotonic()
    st = ec.wait_finished(inv, timeout=90)
    print(f"tasks failed {time.monotonic() - t_kill:.1f} s after the model was killed")
    assert st["model"]["state"] == "exited"
    for job in st["jobs"]:
        assert job["state"] == "FAILED" and job["exit_code"] not in (None, 0), job
        assert "stdout.log" in job["detail"]
        assert progress_done(job) < n_samples or not (run_dir / job["service"] / "artifacts" / "results.yml").exists()
    before = {c["Config"]["Labels"]["com.docker.compose.service"]: c["State"]["StartedAt"]
              for c in project_containers(project)}

    t_resume = time.monotonic()
    ec.cli("resume", inv, expect=0, timeout=120)
    final = ec.wait_finished(inv, timeout=120)
    print(f"resumed run finished {time.monotonic() - t_resume:.1f} s after resume")
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS", "SUCCESS"], final["jobs"]
    by_service = containers_by_service(project)
    model_started = docker_time(by_service["model"][0]["State"]["StartedAt"])
    assert by_service["model"][0]["State"]["StartedAt"] != before["model"], "the model was started again"
    for service in ("arithmetic", "arithmetic_completions"):
        started = docker_time(by_service[service][0]["State"]["StartedAt"])
        assert started > model_started, f"{service} started before the model"
    # every sample answered; a request answered before the model died was not sent again,
    # except at most the one in flight per task
    answered = [r for r in ec.requests() if r["status"] == 200]
    counts = collections.Counter((r["path"], r["sha"]) for r in answered)
    assert len(counts) == 2 * n_samples
    assert sum(n - 1 for n in counts.values()) <= 2 * parallelism, [k for k, n in counts.items() if n > 1]


def test_kill_stops_tasks_then_model_and_down_removes_everything(ec):
    cfg = ec.config(tasks=["arithmetic", "arithmetic_completions"], limit_samples=60, parallelism=1,
                    standin={"STANDIN_LATENCY_MS": 400})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    st = ec.wait_running(inv, min_progress=2, timeout=60)
    assert st["model"]["state"] == "running" and st["model"]["health"] == "healthy", st["model"]
    assert st["model"]["container"] == f"{project}-model-1"
    text = ec.cli("status", inv, expect=0).stdout
    assert "model: running healthy" in text

    ec.cli("kill", inv, expect=0, timeout=60)
    by_service = containers_by_service(project)
    finished = {s: docker_time(cs[0]["State"]["FinishedAt"]) for s, cs in by_service.items()}
    assert all(finished.values()), finished
    assert finished["model"] >= max(finished["arithmetic"], finished["arithmetic_completions"]), finished
    st = ec.status(inv)
    assert st["model"]["state"] == "exited"
    assert [j["state"] for j in st["jobs"]] == ["KILLED", "KILLED"]

    ec.cli("down", inv, expect=0, timeout=60)
    assert project_containers(project) == []
    assert project_networks(project) == []
    assert (run_dir / "arithmetic" / "logs" / "stdout.log").is_file()
    assert (run_dir / "arithmetic" / "artifacts" / ".nemo_evaluator_interrupted").is_file()


def test_down_of_a_running_run_stops_the_model(ec):
    cfg = ec.config(tasks=["arithmetic"], limit_samples=60, parallelism=1, standin={"STANDIN_LATENCY_MS": 400})
    info = ec.up_detached(cfg)
    inv, project = info["invocation_id"], info["project"]
    ec.wait_running(inv, min_progress=1, timeout=60)
    model_id = containers_by_service(project)["model"][0]["Id"]
    assert inspect(model_id)["State"]["Running"]
    ec.cli("down", inv, expect=0, timeout=60)
    assert docker("inspect", model_id, check=False).returncode != 0, "the model container is gone"
    assert project_containers(project) == [] and project_networks(project) == []
    st = ec.status(inv)
    assert st["model"]["state"] == "missing"
    assert st["jobs"][0]["state"] != "RUNNING"

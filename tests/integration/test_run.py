"""Issue 3 on a real engine: up (detached and attached), status, logs with nobody following,
ls runs, down, a rerun with plain ``docker compose``, prerequisite errors, and the concurrency cap.

Scores are never hard-coded: they are read from the files the harness wrote (``results.yml``,
and the runner's own ``samples.jsonl`` to cross-check it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from .conftest import (
    accuracy,
    compose,
    containers_by_service,
    docker,
    docker_time,
    max_overlap,
    project_containers,
    project_networks,
    wait_for,
)

pytestmark = pytest.mark.docker

TASK_NAMES = {"arithmetic": "arithmetic", "arithmetic_completions": "arithmetic_completions"}


def _samples_accuracy(task_dir) -> tuple[float, int]:
    """Accuracy recomputed from the runner's per-sample file (independent of results.yml)."""
    lines = (task_dir / "artifacts" / "evalcompose_bench" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return sum(1 for r in rows if r["correct"]) / len(rows), len(rows)


def _one_line_error(stderr: str) -> str:
    """The error is one line (``error: ... (hint: ...)``), the last on stderr; progress lines may precede it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one error line, last on stderr:\n{stderr}"
    assert "Traceback" not in stderr
    return errors[0]


# ------------------------------------------------------------------ one finished detached run, read by several tests

@pytest.fixture(scope="module")
def finished(ec_module):
    """``up quickstart -d --json`` (limit_samples 5), then ``status --json`` polled until every job is done."""
    ec = ec_module
    t0 = time.monotonic()
    info = ec.up_detached(ec.config(limit_samples=5))
    started_in = time.monotonic() - t0
    follower = ec.popen("logs", info["invocation_id"])  # follows the whole run, model included
    final = ec.wait_finished(info["invocation_id"], timeout=120)
    try:
        followed, follow_err = follower.communicate(timeout=60)
    except Exception:
        followed, follow_err = None, "did not return within 60 s of the run's end"
    return {"ec": ec, "info": info, "status": final, "up_seconds": started_in,
            "followed": (follower.returncode, followed, follow_err)}


def test_up_detached_then_status_until_every_task_succeeds(finished):
    info, st = finished["info"], finished["status"]
    run_dir = info["run_dir"]
    assert finished["up_seconds"] < 30, "up -d should return once the tasks are in Docker's hands"
    assert st["invocation_id"] == info["invocation_id"] and st["run_dir"] == str(run_dir)
    assert [j["service"] for j in st["jobs"]] == [t["service"] for t in info["tasks"]] == list(TASK_NAMES)
    for job in st["jobs"]:
        assert job["state"] == "SUCCESS", job
        assert job["exit_code"] == 0
        assert job["container"], job
        task_dir = run_dir / job["service"]
        results = task_dir / "artifacts" / "results.yml"
        assert results.is_file(), f"{results} missing"
        assert (task_dir / "artifacts" / "eval_factory_metrics.json").is_file()
        # the score results.yml reports equals what the runner's own samples say
        value = accuracy(results, TASK_NAMES[job["service"]])
        recomputed, count = _samples_accuracy(task_dir)
        assert count == 5
        assert value == pytest.approx(recomputed)
        assert job["progress"] == f"{count}/{count}"
    # `evalcompose results --json` reports the same scores as the files
    res = finished["ec"].cli("results", info["invocation_id"], "--json", expect=0)
    tasks = {t["service"]: t for run in json.loads(res.stdout) for t in run["tasks"]}
    for service, name in TASK_NAMES.items():
        want = accuracy(run_dir / service / "artifacts" / "results.yml", name)
        got = [s["value"] for s in tasks[service]["scores"] if s["score"] == "accuracy" and s["kind"] == "task"]
        assert got == [pytest.approx(want)], tasks[service]["scores"]


def test_status_of_a_finished_run_reports_the_model_and_job_ids(finished):
    ec, info = finished["ec"], finished["info"]
    inv = info["invocation_id"]
    st = finished["status"]
    assert st["model"]["service"] == "model"
    assert st["model"]["container"], st["model"]
    # a job id selects that job only; a prefix finds the run
    for task in info["tasks"]:
        one = ec.status(task["job_id"])
        assert [j["job_id"] for j in one["jobs"]] == [task["job_id"]]
        assert one["jobs"][0]["state"] == "SUCCESS"
    assert ec.status(inv[:6])["invocation_id"] == inv
    text = ec.cli("status", inv, expect=0).stdout
    assert inv in text and "SUCCESS" in text


def test_each_task_output_lands_in_its_log_with_nobody_following(finished):
    ec, info = finished["ec"], finished["info"]
    run_dir = info["run_dir"]
    for task in info["tasks"]:
        log = run_dir / task["service"] / "logs" / "stdout.log"
        assert log.is_file(), log
        text = log.read_text(encoding="utf-8")
        # the runner's final line, with the score it computed
        found = re.search(r"evalcompose-bench: accuracy=([0-9.]+)", text)
        assert found, text[-2000:]
        assert float(found[1]) == pytest.approx(accuracy(run_dir / task["service"] / "artifacts" / "results.yml",
                                                         TASK_NAMES[task["service"]]), abs=1e-4)
        # the same as the container's output in Docker
        container = next(c for c in project_containers(info["project"])
                         if c["Config"]["Labels"].get("com.docker.compose.service") == task["service"])
        docker_log = docker("logs", container["Id"]).stdout + docker("logs", container["Id"]).stderr
        assert found[0] in docker_log
        # `evalcompose logs ID TASK --no-follow` prints it and returns
        shown = ec.cli("logs", info["invocation_id"], task["service"], "--no-follow", expect=0, timeout=60)
        assert found[0] in shown.stdout, shown.stdout[-2000:]
        assert "arithmetic" in shown.stdout


def test_logs_follows_a_running_run_through_compose_and_returns_when_it_ends(finished):
    code, out, err = finished["followed"]
    assert out is not None, err
    assert code == 0, err
    for service in ("model", *TASK_NAMES):
        assert re.search(rf"^{re.escape(service)}-1\s+\|", out, re.M), f"no {service} lines in the followed logs"
    assert out.count("evalcompose-bench: accuracy=") == 2
    assert '"event": "listening"' in out, "the model's output is in the logs too"


def test_logs_of_a_finished_run_return_even_when_following(finished):
    """`logs -f` of compose never returns once everything exited; evalcompose must not hang."""
    ec, info = finished["ec"], finished["info"]
    t0 = time.monotonic()
    shown = ec.cli("logs", info["invocation_id"], expect=0, timeout=60)
    assert time.monotonic() - t0 < 30
    assert "evalcompose-bench: accuracy=" in shown.stdout


def test_ls_runs_lists_the_run(finished):
    ec, info = finished["ec"], finished["info"]
    runs = json.loads(ec.cli("ls", "runs", "--json", expect=0).stdout)
    mine = [r for r in runs if r["invocation_id"] == info["invocation_id"]]
    assert len(mine) == 1, runs
    assert mine[0]["run_dir"] == str(info["run_dir"])
    assert mine[0]["tasks"] == 2
    assert sum(mine[0]["containers"].values()) == 3, mine[0]  # 2 tasks + the model, all exited
    assert info["invocation_id"] in ec.cli("ls", "runs", expect=0).stdout


def test_plain_docker_compose_rerun_then_down_keeps_results(finished):
    """Issue 3 #9/#10: down removes containers and network, results stay; then plain
    ``docker compose up`` in the run folder (no evalcompose, env only from the test) gives the same results.
    (Issue 10 #7: the finished run gave its network back already, before down.)"""
    ec, info = finished["ec"], finished["info"]
    run_dir, project = info["run_dir"], info["project"]
    before = {s: accuracy(run_dir / s / "artifacts" / "results.yml", n) for s, n in TASK_NAMES.items()}
    mtimes = {s: (run_dir / s / "artifacts" / "results.yml").stat().st_mtime for s in TASK_NAMES}
    assert project_containers(project), "the finished run keeps its containers until down"
    wait_for(lambda: not project_networks(project), 30, what="the finished run to release its network")

    ec.cli("down", info["invocation_id"], expect=0)
    assert project_containers(project) == []
    assert project_networks(project) == []
    for service in TASK_NAMES:
        assert (run_dir / service / "artifacts" / "results.yml").is_file(), "down must keep results"
    status = ec.status(info["invocation_id"])
    assert [j["state"] for j in status["jobs"]] == ["SUCCESS", "SUCCESS"], "results still say SUCCESS after down"

    # plain compose, from the folder, with a minimal environment (no EVALCOMPOSE_*)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG") if k in os.environ}
    time.sleep(1.1)  # so a rewritten results.yml has a newer mtime
    try:
        up = compose("up", "--no-attach", "model", cwd=run_dir, env=env, timeout=180)
        assert up.returncode == 0, up.stderr
        by_service = containers_by_service(project)
        for service, name in TASK_NAMES.items():
            [container] = by_service[service]
            assert container["State"]["Status"] == "exited" and container["State"]["ExitCode"] == 0
            results = run_dir / service / "artifacts" / "results.yml"
            assert results.stat().st_mtime > mtimes[service], "the rerun should have rewritten results.yml"
            assert accuracy(results, name) == pytest.approx(before[service])
            log = (run_dir / service / "logs" / "stdout.log").read_text(encoding="utf-8")
            assert log.count("evalcompose-bench: accuracy=") == 2, "the rerun appends to the same log"
    finally:
        compose("down", "-t", "1", cwd=run_dir, env=env, check=False)
    assert project_containers(project) == []


# ------------------------------------------------------------------ attached up

def test_attached_up_without_tty_exits_0_when_all_succeed(ec):
    cfg = ec.config(tasks=["arithmetic"], limit_samples=3)
    t0 = time.monotonic()
    result = ec.cli("up", str(cfg), timeout=180)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr[-3000:]
    [inv] = ec.registered_runs()
    st = ec.status(inv)
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS"]
    assert st["model"]["state"] == "exited", "the model is stopped once every task exited"
    value = accuracy(ec.registered_runs()[inv] / "arithmetic" / "artifacts" / "results.yml", "arithmetic")
    assert f"{value:.4g}" in result.stdout, "attached up ends with the results table"
    assert elapsed < 120


def test_ctrl_c_detaches_attached_up_and_the_run_goes_on(ec):
    """Issue 3 #4/#5: Ctrl-C (SIGINT to the CLI's process group, as a terminal sends it) leaves the
    tasks running and says how to reattach; status, computed from Docker, follows the run to its end."""
    cfg = ec.config(tasks=["arithmetic"], limit_samples=20, parallelism=1, standin={"STANDIN_LATENCY_MS": 200})
    proc = ec.popen("up", str(cfg))
    inv = wait_for(lambda: next(iter(ec.registered_runs()), None), timeout=60, what="the run to be written")
    ec.wait_running(inv, min_progress=1, timeout=60)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "detached" in out + err and f"evalcompose watch {inv}" in out + err
    assert ec.jobs(inv)["arithmetic"]["state"] == "RUNNING", "the task keeps running after Ctrl-C"
    final = ec.wait_finished(inv, timeout=120)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS"]


def test_attached_up_exits_nonzero_when_a_task_fails(ec):
    """Every completion request answered 500 (no retries): the runner exits 1, nemo-evaluator too."""
    cfg = ec.config(tasks=["arithmetic"], limit_samples=3, max_retries=0, standin={"STANDIN_ERROR_RATE": 1})
    result = ec.cli("up", str(cfg), timeout=180)
    assert result.returncode == 1, (result.stdout[-2000:], result.stderr[-2000:])
    [(inv, run_dir)] = ec.registered_runs().items()
    [job] = ec.status(inv)["jobs"]
    container = project_containers(f"evalcompose-{inv}")
    exit_code = next(c["State"]["ExitCode"] for c in container if c["Config"]["Labels"].get(
        "com.docker.compose.service") == "arithmetic")
    assert job["state"] == "FAILED", job
    assert job["exit_code"] == exit_code != 0
    assert "stdout.log" in job["detail"]
    assert not (run_dir / "arithmetic" / "artifacts" / "results.yml").exists()
    log = (run_dir / "arithmetic" / "logs" / "stdout.log").read_text(encoding="utf-8")
    assert "requests failed" in log


# ------------------------------------------------------------------ prerequisite errors (issue 3 #11)

def test_daemon_not_answering_is_exit_3_with_one_line(ec):
    cfg = ec.config(tasks=["arithmetic"])
    bad = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    result = ec.cli("up", str(cfg), "-d", env=bad, timeout=60)
    assert result.returncode == 3, result
    line = _one_line_error(result.stderr)
    assert "daemon" in line.lower() and "hint:" in line
    assert ec.registered_runs() == {}, "nothing is written when the engine is missing"
    # commands on an existing run (written by a dry run, which needs no engine) say the same
    dry = ec.cli("up", str(cfg), "--dry-run", "--json", expect=0)
    inv = json.loads(dry.stdout)["invocation_id"]
    for args in (["status", inv], ["kill", inv], ["down", inv], ["logs", inv, "--no-follow"], ["resume", inv]):
        result = ec.cli(*args, env=bad, timeout=60)
        assert result.returncode == 3, (args, result.stderr)
        assert "daemon" in _one_line_error(result.stderr).lower(), args


def test_no_docker_client_is_exit_3_with_one_line(ec, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    cfg = ec.config(tasks=["arithmetic"])
    result = ec.cli("up", str(cfg), "-d", env={"PATH": str(empty)}, timeout=60)
    assert result.returncode == 3, (result.stdout, result.stderr)
    line = _one_line_error(result.stderr)
    assert "docker client not found" in line and "hint:" in line
    assert ec.registered_runs() == {}


def test_unknown_run_id_is_exit_3_with_one_line(ec):
    for args in (["status", "0badc0de0badc0de"], ["logs", "0badc0de", "--no-follow"], ["kill", "0badc0de"],
                 ["resume", "0badc0de"], ["down", "0badc0de"]):
        result = ec.cli(*args, timeout=60)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        line = _one_line_error(result.stderr)
        assert "0badc0de" in line and "hint:" in line, line
    # a job index the run does not have
    cfg = ec.config(tasks=["arithmetic"])
    inv = json.loads(ec.cli("up", str(cfg), "--dry-run", "--json", expect=0).stdout)["invocation_id"]
    result = ec.cli("status", f"{inv}.7", timeout=60)
    assert result.returncode == 3
    assert f"{inv}.0" in _one_line_error(result.stderr)


def test_missing_image_is_one_line_with_a_hint(ec):
    """A task image that is not on the engine and has no reachable registry (loopback port 1: no traffic leaves)."""
    image = "localhost:1/evalcompose-test/no-such-image:0"
    cfg = ec.config(tasks=["arithmetic"], task_container=image)
    t0 = time.monotonic()
    result = ec.cli("up", str(cfg), "-d", timeout=120)
    assert result.returncode == 3, (result.stdout, result.stderr)
    line = _one_line_error(result.stderr)
    assert image in line and "hint:" in line, line
    assert time.monotonic() - t0 < 60
    assert ec.registered_runs() == {}, "no run folder is left behind"


# ------------------------------------------------------------------ concurrency cap

def _task_intervals(project: str, run_dir: Path) -> dict[str, tuple[float, float]]:
    """service -> (harness start, end): every task container starts at once and waits for a slot,
    so the harness start is the time its entrypoint took one (``<task>/logs/slot``)."""
    out = {}
    for c in project_containers(project):
        labels = c["Config"]["Labels"]
        if labels.get("evalcompose.role") == "task":
            service = labels["com.docker.compose.service"]
            words = (run_dir / service / "logs" / "slot").read_text(encoding="utf-8").split()
            assert words[0] == "started", (service, words)
            out[service] = (float(words[1]), docker_time(c["State"]["FinishedAt"]))
    return out


@pytest.mark.parametrize("mode,max_parallel,n_tasks,cap", [("parallel", 2, 4, 2), ("sequential", None, 3, 1)])
def test_concurrency_cap(ec, mode, max_parallel, n_tasks, cap):
    tasks = [{"name": "arithmetic", "nemo_evaluator_config": {"config": {"params": {"extra": {"seed": i}}}}}
             for i in range(n_tasks)]
    cfg = ec.config(tasks=tasks, limit_samples=3, mode=mode, max_parallel=max_parallel)
    info = ec.up_detached(cfg)
    st = ec.wait_finished(info["invocation_id"], timeout=150)
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS"] * n_tasks, st
    intervals = _task_intervals(info["project"], Path(info["run_dir"]))
    assert len(intervals) == n_tasks and all(s and e for s, e in intervals.values()), intervals
    # the end time is taken just after the harness exits, a few ms after its slot is free: 50 ms tolerance, as below
    assert max_overlap([(s, e - 0.05) for s, e in intervals.values()]) == cap, intervals
    # config order, and task i starts only once i-cap+1 tasks (any of them) have finished
    order = [t["service"] for t in info["tasks"]]
    starts = [intervals[s][0] for s in order]
    assert starts == sorted(starts), intervals
    ends = sorted(e for _, e in intervals.values())
    for i in range(cap, n_tasks):
        assert starts[i] >= ends[i - cap] - 0.05, (order[i], intervals)

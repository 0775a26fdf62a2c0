"""Issue 10 #7 on a real engine: the lifecycle holds under faults.

* ``resume`` while the previous scheduler still waits for its tasks never stops the model under
  the resumed ones;
* a scheduler that died (kill -9) does not leave the model running: the next ``status`` stops it;
* a finished run releases its network (many runs without ``down`` leave the next one working),
  and ``status``/``logs`` of finished runs keep working;
* a deleted or corrupted run folder: ``status``/``down`` find the containers by their labels,
  ``ls runs`` shows the run as orphaned;
* ``status``/``watch`` of a run that never started say so and return.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import containers_by_service, project_containers, project_networks, wait_for

pytestmark = pytest.mark.docker

LATENCY_MS = 300


def _task(name: str, samples: int) -> dict:
    return {"name": name, "nemo_evaluator_config": {"config": {"params": {"limit_samples": samples}}}}


def _model_state(project: str) -> str:
    [model] = containers_by_service(project)["model"]
    return model["State"]["Status"]


def _scheduler_pid(run_dir) -> int:
    text = (run_dir / ".evalcompose" / "up.pid").read_text(encoding="utf-8").split()
    return int(text[0])


def test_resume_while_the_old_scheduler_waits_never_stops_the_model_under_resumed_tasks(ec):
    # .0 ends a few seconds after the resume; .1 (killed, then resumed) needs the model much longer
    cfg = ec.config(tasks=[_task("arithmetic", 14), _task("arithmetic_completions", 40)], parallelism=1,
                    standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = ec.up_detached(cfg)
    inv, project = info["invocation_id"], info["project"]
    ec.wait_running(inv, min_progress=2, timeout=90)
    ec.cli("kill", f"{inv}.1", expect=0, timeout=60)
    assert ec.jobs(inv)["arithmetic"]["state"] == "RUNNING", "the resume must happen while .0 runs"
    ec.cli("resume", inv, expect=0, timeout=120)
    ec.wait_status(inv, lambda s: s["jobs"][0]["state"] == "SUCCESS", timeout=90, what=".0 finished")
    # the old scheduler's wait ended with .0: the model must still serve the resumed .1
    time.sleep(3)
    jobs = ec.jobs(inv)
    assert jobs["arithmetic_completions"]["state"] in ("RUNNING", "SUCCESS"), jobs["arithmetic_completions"]
    if jobs["arithmetic_completions"]["state"] == "RUNNING":
        assert _model_state(project) == "running"
    st = ec.wait_finished(inv, timeout=120)
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS", "SUCCESS"], st["jobs"]
    # and once everything ended, the model is stopped
    wait_for(lambda: _model_state(project) != "running", 30, what="the model to stop after the last task")


def test_scheduler_killed_9_does_not_leave_the_model_running(ec):
    cfg = ec.config(tasks=[_task("arithmetic", 12)], parallelism=1, standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    ec.wait_running(inv, min_progress=1, timeout=90)
    os.killpg(_scheduler_pid(run_dir), signal.SIGKILL)
    st = ec.wait_finished(inv, timeout=120)  # status is polled: it reconciles
    assert st["jobs"][0]["state"] == "SUCCESS"
    wait_for(lambda: ec.status(inv) and _model_state(project) != "running", 30,
             what="status to stop the model a dead scheduler left running")


def test_finished_run_releases_its_network_and_stays_readable(ec):
    cfg = ec.config(tasks=["arithmetic"], limit_samples=2)
    info = ec.up_detached(cfg)
    inv, project = info["invocation_id"], info["project"]
    assert project_networks(project), "a running run has its network"
    ec.wait_finished(inv, timeout=120)
    wait_for(lambda: not project_networks(project), 30, what="the finished run's network to go")
    st = ec.status(inv)
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS"]
    logs = ec.cli("logs", inv, "arithmetic", "--no-follow", expect=0, timeout=60).stdout
    assert "evalcompose-bench" in logs
    # resume after the network went: the task runs again on a fresh network
    (info["run_dir"] / "arithmetic" / "artifacts" / "results.yml").unlink()
    ec.cli("resume", inv, expect=0, timeout=120)
    st = ec.wait_finished(inv, timeout=120)
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS"], st["jobs"]


def test_many_runs_without_down_leave_the_next_one_working(ec):
    """More finished runs than Docker's default address pools (~31), none taken down, then one more.

    Each run is one task that fails in its pre_cmd (no request is ever sent), against the stand-in:
    about 3 s of engine time; five at a time, so at most five networks exist at once.
    """
    n_runs = 35
    cfg = ec.config(tasks=["arithmetic"], limit_samples=1, set={"evaluation.pre_cmd": "exit 7"})

    def one(_):
        result = ec.cli("up", str(cfg), "--json", timeout=240)
        return result.returncode, result.stderr[-500:]

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(one, range(n_runs)))
    assert all(code == 1 for code, _ in outcomes), [o for o in outcomes if o[0] != 1][:3]
    runs = ec.registered_runs()
    assert len(runs) == n_runs

    def kept() -> list[list[str]]:
        return [p for inv in runs if (p := project_networks(f"evalcompose-{inv}"))]

    try:  # up returns when the last task ended; the scheduler then stops the model and the network goes
        wait_for(lambda: not kept(), 30, what="every finished run to release its network")
    except AssertionError:
        raise AssertionError(f"{len(kept())} finished runs kept their network: {kept()}") from None
    last = ec.cli("up", str(ec.config(tasks=["arithmetic"], limit_samples=1)), timeout=240)
    assert last.returncode == 0, last.stderr[-2000:]
    some = min(runs)
    assert ec.status(some)["jobs"][0]["state"] == "FAILED"


def test_deleted_run_folder_status_down_and_ls_find_containers_by_label(ec):
    cfg = ec.config(tasks=[_task("arithmetic", 30)], parallelism=1, standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    ec.wait_running(inv, timeout=90)
    shutil.rmtree(run_dir)
    listed = ec.cli("ls", "runs", "--json", expect=0).stdout
    [row] = [r for r in json.loads(listed) if r["invocation_id"] == inv]
    assert row["orphaned"] is True, row
    shown = ec.cli("status", inv, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "arithmetic" in shown.stdout and "run folder" in shown.stdout and "missing" in shown.stdout
    ec.cli("down", inv, expect=0, timeout=120)
    assert project_containers(project) == [] and project_networks(project) == []


def test_corrupted_run_folder_down_still_cleans_up(ec):
    cfg = ec.config(tasks=[_task("arithmetic", 30)], parallelism=1, standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    ec.wait_running(inv, timeout=90)
    (run_dir / "compose.yaml").write_text("services: [this is: not: ours\n", encoding="utf-8")
    shown = ec.cli("status", inv, timeout=60)
    assert shown.returncode == 0 and "arithmetic" in shown.stdout, shown.stderr
    ec.cli("down", inv, expect=0, timeout=120)
    assert project_containers(project) == [] and project_networks(project) == []


def test_status_and_watch_of_a_run_that_never_started_say_so_and_return(ec):
    cfg = ec.config(tasks=["arithmetic"])
    inv = json.loads(ec.cli("up", str(cfg), "--dry-run", "--json", expect=0).stdout)["invocation_id"]
    st = ec.status(inv)
    assert st["scheduler"] == "never started", st
    assert "never started" in ec.cli("status", inv, expect=0).stdout
    t0 = time.monotonic()
    watched = ec.cli("watch", inv, timeout=30)
    assert time.monotonic() - t0 < 20
    assert watched.returncode != 0 and "never started" in watched.stdout + watched.stderr


def test_kill_never_signals_a_reused_pid(ec):
    """The scheduler's pid file names a live process that is not the scheduler: kill leaves it alone."""
    import subprocess

    cfg = ec.config(tasks=["arithmetic"], limit_samples=1)
    info = ec.up_detached(cfg)
    inv, run_dir = info["invocation_id"], info["run_dir"]
    ec.wait_finished(inv, timeout=120)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pid_file = run_dir / ".evalcompose" / "up.pid"
        recorded = pid_file.read_text(encoding="utf-8").split()
        pid_file.write_text(" ".join([str(stranger.pid), *recorded[1:]]), encoding="utf-8")
        ec.cli("kill", inv, expect=0, timeout=60)
        ec.cli("down", inv, expect=0, timeout=60)
        time.sleep(0.5)
        assert stranger.poll() is None, "a process that merely reuses the pid was signalled"
    finally:
        stranger.kill()
        stranger.wait()

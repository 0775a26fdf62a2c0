"""Issue 9, class 1 on a real engine: ``execution.auto_export`` exports each task by itself when it
ends successfully, to MLflow (file store) and to local JSON, with nobody calling ``export``.

Scores are read back from the destinations and compared with the results.yml each task wrote.
"""

from __future__ import annotations

import json

import pytest

from .conftest import accuracy, wait_for

pytestmark = pytest.mark.docker

TASKS = ["arithmetic", "arithmetic_completions"]


def test_auto_export_to_mlflow_file_store_and_local_json(ec, tmp_path, monkeypatch):
    store = tmp_path / "mlruns"
    exports = tmp_path / "exported"
    config = ec.config(limit_samples=3, set={
        "execution.auto_export": {"destinations": ["mlflow", "local"]},
        "export": {"mlflow": {"tracking_uri": store.as_uri(), "experiment_name": "autoexport-test"},
                   "local": {"format": "json", "output_dir": str(exports)}},
    })
    info = ec.up_detached(config)
    run_dir = info["run_dir"]
    final = ec.wait_finished(info["invocation_id"], timeout=180)
    assert all(j["state"] == "SUCCESS" for j in final["jobs"]), final
    markers = [run_dir / t / ".autoexport" / f"{d}.done" for t in TASKS for d in ("mlflow", "local")]
    wait_for(lambda: all(m.is_file() for m in markers), timeout=120, what="auto_export markers")

    # local JSON: the launcher's processed_results.json per job, scores as results.yml says
    for task in info["tasks"]:
        doc = json.loads((exports / info["invocation_id"] / task["job_id"] / "processed_results.json").read_text())
        entry = doc["benchmarks"][task["service"]]["models"]["standin"][0]
        want = accuracy(run_dir / task["service"] / "artifacts" / "results.yml", task["service"])
        assert any(v == pytest.approx(want) for k, v in entry["scores"].items() if "accuracy" in k), entry

    # MLflow file store: one run per job, tagged with its job id, metrics = the scores
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading the file store back, in this process

    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("autoexport-test")
    runs = client.search_runs([experiment.experiment_id])
    by_job = {r.data.tags.get("job_id"): r for r in runs}
    assert set(by_job) == {t["job_id"] for t in info["tasks"]}
    for task in info["tasks"]:
        want = accuracy(run_dir / task["service"] / "artifacts" / "results.yml", task["service"])
        metrics = by_job[task["job_id"]].data.metrics
        assert any(v == pytest.approx(want) for k, v in metrics.items() if "accuracy" in k), metrics

    # idempotent: a second hook call for a task exports nothing again
    again = ec.cli("_autoexport", str(run_dir), TASKS[0], expect=0)
    assert again.stdout.count("already exported") == 2
    assert len(client.search_runs([experiment.experiment_id])) == len(runs)
    rerun = (run_dir / "RERUN.md").read_text(encoding="utf-8")
    assert "does not export" in rerun and f"evalcompose export {info['invocation_id']}" in rerun


def test_failed_task_is_not_auto_exported(ec, tmp_path):
    exports = tmp_path / "exported"
    config = ec.config(limit_samples=2, tasks=["arithmetic"],
                       set={"execution.auto_export": {"destinations": ["local"]}, "evaluation.pre_cmd": "exit 3",
                            "export": {"local": {"output_dir": str(exports)}}})
    info = ec.up_detached(config)
    final = ec.wait_finished(info["invocation_id"], timeout=180)
    log = info["run_dir"] / "arithmetic" / "logs" / "autoexport.log"
    assert final["jobs"][0]["state"] == "FAILED", final
    wait_for(lambda: log.is_file(), timeout=60, what="the auto_export hook's log line")
    assert "not exported" in log.read_text(encoding="utf-8")
    assert not (info["run_dir"] / "arithmetic" / ".autoexport").exists()
    assert not exports.exists()

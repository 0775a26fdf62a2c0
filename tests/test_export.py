"""composer.export and ``evalcompose export``: the launcher's processed_results shapes, MLflow, W&B.

Shapes are those of nemo-evaluator-launcher 0.2.6 ``exporters/local.py`` (its output for these
fixtures was compared byte for byte, apart from export_timestamp). Expected values are parsed here
from the fixture files.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from composer.errors import ConfigError, PrerequisiteError
from composer.export import CSV_BASE_COLUMNS, export_local, export_mlflow, export_wandb
from composer.results import read_results
from composer.workspace import read_run

FIX = Path(__file__).parent / "fixtures" / "results"
RUNS = ["standin_complete", "standin_b_errors", "interrupted"]
ENTRY_KEYS = ["invocation_id", "job_id", "harness", "container", "scores", "timestamp", "executor", "results_dir"]


def tasks_of(*names):
    return [t for n in names for t in read_results(read_run(FIX / n)).tasks]


def expected_jobs() -> list[dict]:
    """Per job with a results.yml: what the launcher would export, parsed from the files."""
    out = []
    for name in RUNS:
        m = yaml.safe_load((FIX / name / "compose.yaml").read_text())["x-evalcompose"]
        for t in m["tasks"]:
            art = FIX / name / t["service"] / "artifacts"
            if not (art / "results.yml").exists():
                continue
            res = yaml.safe_load((art / "results.yml").read_text())["results"]
            scores = {}
            for section in ("groups", "tasks"):
                for tname, tdata in res.get(section, {}).items():
                    for metric, mdata in tdata["metrics"].items():
                        for score, sdata in mdata["scores"].items():
                            key = f"{tname}_{metric}_{score}" if score != metric else f"{tname}_{metric}"
                            scores.setdefault(key, float(sdata["value"]))
            rc = yaml.safe_load((art / "run_config.yml").read_text())
            out.append({"benchmark": rc["config"]["type"], "model": rc["target"]["api_endpoint"]["model_id"],
                        "entry": {"invocation_id": m["invocation_id"], "job_id": t["job_id"],
                                  "harness": rc["framework_name"], "container": t["image"], "scores": scores,
                                  "timestamp": datetime.fromisoformat(m["created"]).timestamp(), "executor": "local",
                                  "results_dir": str((FIX / name / t["service"]).resolve())}})
    return out


def test_json_matches_the_launcher_shape(tmp_path):
    report = export_local(tasks_of(*RUNS), "json", tmp_path)
    expected = expected_jobs()
    assert sorted(report.exported) == sorted(e["entry"]["job_id"] for e in expected)
    assert [j for j, _ in report.failed] == ["858a15493cb8c577.0"]
    assert "results.yml" in report.failed[0][1] and "interrupted" in report.failed[0][1]

    doc = json.loads((tmp_path / "processed_results.json").read_text())
    assert list(doc) == ["benchmarks", "export_timestamp"]
    datetime.fromisoformat(doc["export_timestamp"])
    got = {}
    for bench, bdata in doc["benchmarks"].items():
        assert list(bdata) == ["models"]
        for model, entries in bdata["models"].items():
            for e in entries:
                assert list(e) == ENTRY_KEYS
                got[e["job_id"]] = (bench, model, e)
    assert got == {e["entry"]["job_id"]: (e["benchmark"], e["model"], e["entry"]) for e in expected}
    # one file per job as well, each with that job only
    for e in expected:
        inv, job = e["entry"]["invocation_id"], e["entry"]["job_id"]
        one = json.loads((tmp_path / inv / job / "processed_results.json").read_text())
        assert one["benchmarks"] == {e["benchmark"]: {"models": {e["model"]: [e["entry"]]}}}


def test_json_export_is_an_upsert(tmp_path):
    export_local(tasks_of("standin_complete"), "json", tmp_path)
    first = json.loads((tmp_path / "processed_results.json").read_text())
    again = export_local(tasks_of("standin_complete", "standin_b_errors"), "json", tmp_path)
    assert sorted(again.skipped) == sorted(t["job_id"] for t in
                                           yaml.safe_load((FIX / "standin_complete" / "compose.yaml").read_text())["x-evalcompose"]["tasks"])
    doc = json.loads((tmp_path / "processed_results.json").read_text())
    for bench, bdata in first["benchmarks"].items():
        for model, entries in bdata["models"].items():
            assert doc["benchmarks"][bench]["models"][model] == entries  # kept, not duplicated
    assert sum(len(es) for b in doc["benchmarks"].values() for es in b["models"].values()) == 4


def test_csv_matches_the_launcher_columns(tmp_path):
    export_local(tasks_of(*RUNS), "csv", tmp_path)
    with (tmp_path / "processed_results.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)
    expected = expected_jobs()
    keys = sorted({k for e in expected for k in e["entry"]["scores"]})
    assert header == CSV_BASE_COLUMNS + keys
    assert CSV_BASE_COLUMNS == ["Model Name", "Harness", "Task Name", "Executor", "Container", "Invocation ID",
                                "Job ID", "Results Dir"]
    by_job = {r["Job ID"]: r for r in rows}
    assert len(rows) == len(expected)
    for e in expected:
        r = by_job[e["entry"]["job_id"]]
        assert (r["Model Name"], r["Harness"], r["Task Name"], r["Executor"], r["Container"], r["Invocation ID"],
                r["Results Dir"]) == (e["model"], e["entry"]["harness"], e["benchmark"], "local",
                                      e["entry"]["container"], e["entry"]["invocation_id"], e["entry"]["results_dir"])
        for k in keys:
            assert r[k] == (str(e["entry"]["scores"][k]) if k in e["entry"]["scores"] else "")


def test_csv_upsert_keeps_old_rows_and_widens_columns(tmp_path):
    export_local(tasks_of("standin_complete")[:1], "csv", tmp_path, output_filename="x.csv")
    inv = read_results(read_run(FIX / "standin_complete")).invocation_id
    single = tmp_path / inv / f"{inv}.0" / "x.csv"
    assert single.exists() and not (tmp_path / "x.csv").exists()  # one job: no combined file, as the launcher
    export_local(tasks_of("standin_complete"), "csv", tmp_path, output_filename="x.csv")
    with (tmp_path / "x.csv").open(newline="") as f:
        assert [r["Job ID"] for r in csv.DictReader(f)] == [f"{inv}.0", f"{inv}.1"]


def test_log_metrics_filters_score_keys(tmp_path):
    export_local(tasks_of("standin_complete"), "json", tmp_path, log_metrics=["COMPLETIONS"])
    doc = json.loads((tmp_path / "processed_results.json").read_text())
    scores = {k for b in doc["benchmarks"].values() for es in b["models"].values() for e in es for k in e["scores"]}
    assert scores and all("completions" in k for k in scores)


def test_cli_export_json_and_errors(tmp_path):
    from typer.testing import CliRunner

    from composer.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["export", str(FIX / "standin_complete"), "--format", "csv", "--output-dir", str(tmp_path),
                              "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    assert len(rep["exported"]) == 2 and str(tmp_path / "processed_results.csv") in rep["written"]
    out = runner.invoke(app, ["export", str(FIX / "standin_complete"), "--dest", "local", "--format", "json",
                              "--output-dir", str(tmp_path)])
    assert out.exit_code == 0 and (tmp_path / "processed_results.json").exists()
    out = runner.invoke(app, ["export", str(FIX / "standin_complete"), "--dest", "mlflow", "--format", "csv"])
    assert isinstance(out.exception, ConfigError)
    out = runner.invoke(app, ["export", str(FIX / "never_started"), "--output-dir", str(tmp_path / "none")])
    assert out.exception is not None and "nothing exported" in str(out.exception)


# ---------------------------------------------------------------------------------------- MLflow


def test_mlflow_file_store_round_trip(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    store = tmp_path / "mlruns"
    report = export_mlflow(tasks_of(*RUNS), tracking_uri=str(store), experiment="evalcompose-test")
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # restored
    expected = {e["entry"]["job_id"]: e for e in expected_jobs()}
    assert sorted(report.exported) == sorted(expected)
    assert [j for j, _ in report.failed] == ["858a15493cb8c577.0"]

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=store.as_uri())
    exp = client.get_experiment_by_name("evalcompose-test")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == len(expected)
    for run in runs:
        e = expected[run.data.tags["job_id"]]
        assert run.data.metrics == e["entry"]["scores"]
        p = run.data.params
        assert (p["invocation_id"], p["harness"], p["model_id"], p["benchmark"], p["executor"]) == \
            (e["entry"]["invocation_id"], e["entry"]["harness"], e["model"], e["benchmark"], "local")
        assert p["results_dir"] == e["entry"]["results_dir"]
        assert run.data.tags["mlflow.runName"] == f"eval-{e['entry']['invocation_id']}-{e['benchmark']}"
        assert run.data.tags["task_name"] == e["benchmark"]
        prefix = f"{e['entry']['harness']}.{e['benchmark']}/artifacts"
        names = {a.path for a in client.list_artifacts(run.info.run_id, prefix)}
        assert {f"{prefix}/results.yml", f"{prefix}/eval_factory_metrics.json", f"{prefix}/run_config.yml"} <= names
        assert run.info.status == "FINISHED"

    again = export_mlflow(tasks_of(*RUNS), tracking_uri=store.as_uri(), experiment="evalcompose-test",
                          skip_existing=True)
    assert sorted(again.skipped) == sorted(expected) and not again.exported
    assert len(client.search_runs([exp.experiment_id])) == len(expected)


def test_mlflow_needs_a_tracking_uri(monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="tracking"):
        export_mlflow(tasks_of("standin_complete"))


def test_missing_packages_say_which_extra(monkeypatch):
    for mod in ("mlflow", "mlflow.entities", "mlflow.tracking", "wandb"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(PrerequisiteError) as err:
        export_mlflow(tasks_of("standin_complete"), tracking_uri="file:/tmp/x")
    assert "evalcompose[mlflow]" in err.value.one_line()
    with pytest.raises(PrerequisiteError) as err:
        export_wandb(tasks_of("standin_complete"), project="p")
    assert "evalcompose[wandb]" in err.value.one_line()


# ---------------------------------------------------------------------------------------- W&B


def test_wandb_offline_runs(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for var, sub in (("WANDB_DIR", "dir"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data"),
                     ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    report = export_wandb(tasks_of("standin_b_errors"), project="evalcompose-test", directory=tmp_path / "wb")
    expected = {e["entry"]["job_id"]: e for e in expected_jobs() if e["model"] == "standin-b"}
    assert sorted(report.exported) == sorted(expected) and not report.failed
    for d in report.details:
        e = expected[d["job_id"]]
        assert d["name"] == f"eval-{e['entry']['invocation_id']}-{e['benchmark']}"
        assert d["summary"] == e["entry"]["scores"]
        assert {k: d["config"][k] for k in ("invocation_id", "job_id", "harness", "benchmark", "results_dir")} == \
            {"invocation_id": e["entry"]["invocation_id"], "job_id": e["entry"]["job_id"],
             "harness": e["entry"]["harness"], "benchmark": e["benchmark"], "results_dir": e["entry"]["results_dir"]}
        run_folder = Path(d["dir"]).parent
        assert run_folder.name.startswith("offline-run-") and tmp_path / "wb" in run_folder.parents
        blob = b"".join(p.read_bytes() for p in run_folder.glob("*.wandb"))
        for key in e["entry"]["scores"]:
            assert key.encode() in blob  # the scores are in the offline run, ready for `wandb sync`


def test_mlflow_unreachable_server_is_one_error_without_credentials(monkeypatch):
    pytest.importorskip("mlflow")
    from composer.errors import EvalComposeError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(EvalComposeError) as err:
        export_mlflow(tasks_of("standin_complete"), tracking_uri="http://someone:hunter2@127.0.0.1:9")
    text = err.value.one_line()
    assert "127.0.0.1:9" in text and "hunter2" not in text and "someone" not in text

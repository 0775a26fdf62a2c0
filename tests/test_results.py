"""composer.results and ``evalcompose results``: read back real run folders (tests/fixtures/results).

Expected values are parsed here from the fixture files themselves, never typed in.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from evalcompose_testlib import run_cli

from composer.errors import RunNotFound
from composer.results import COMPLETE, METRICS_FILE, MISSING, PARTIAL, RESULTS_FILE, load_results, read_results
from composer.scores import extract_scores, flat_scores
from composer.workspace import read_run, register

FIX = Path(__file__).parent / "fixtures" / "results"
RUNS = ["standin_complete", "standin_b_errors", "interrupted", "never_started"]


def meta(name: str) -> dict:
    return yaml.safe_load((FIX / name / "compose.yaml").read_text())["x-evalcompose"]


def artifacts(name: str, service: str) -> Path:
    return FIX / name / service / "artifacts"


def task_scores_from_file(path: Path) -> dict[tuple[str, str, str], dict]:
    """(task, metric, score) -> {value, stderr, count} from results.tasks, parsed independently."""
    doc = yaml.safe_load(path.read_text())
    out = {}
    for task, tdata in doc["results"]["tasks"].items():
        for metric, mdata in tdata["metrics"].items():
            for score, sdata in mdata["scores"].items():
                out[(task, metric, score)] = {"value": sdata["value"], "stderr": sdata["stats"]["stderr"],
                                              "count": sdata["stats"]["count"]}
    return out


def log_seconds(path: Path) -> float:
    stamps = re.findall(r"^\[[A-Z] (\S+)\]", path.read_text(), flags=re.M)
    return (datetime.fromisoformat(stamps[-1]) - datetime.fromisoformat(stamps[0])).total_seconds()


@pytest.mark.parametrize("name", ["standin_complete", "standin_b_errors"])
def test_complete_runs_read_every_figure_from_the_files(name):
    res = read_results(read_run(FIX / name))
    m = meta(name)
    assert res.invocation_id == m["invocation_id"]
    assert [t.job_id for t in res.tasks] == [t["job_id"] for t in m["tasks"]]
    for t, mt in zip(res.tasks, m["tasks"]):
        art = artifacts(name, mt["service"])
        assert t.status == COMPLETE and t.missing == [] and t.notes == []
        expected = task_scores_from_file(art / RESULTS_FILE)
        got = {(s.name, s.metric, s.score): {"value": s.value, "stderr": s.stderr, "count": s.count}
               for s in t.scores if s.kind == "task"}
        assert got == expected
        rc = yaml.safe_load((art / "run_config.yml").read_text())
        assert t.benchmark == rc["config"]["type"]
        assert t.harness == rc["framework_name"]
        assert t.model_id == rc["target"]["api_endpoint"]["model_id"] == mt["model_id"]
        assert t.container == mt["image"] and t.task == mt["task"]
        efm = json.loads((art / METRICS_FILE).read_text())
        rs = efm["response_stats"]
        u = t.usage
        assert (u.requests, u.successful) == (rs["count"], rs["successful_count"])
        assert u.failed == rs["count"] - rs["successful_count"]
        assert (u.avg_latency_ms, u.max_latency_ms) == (rs["avg_latency_ms"], rs["max_latency_ms"])
        assert (u.avg_prompt_tokens, u.avg_completion_tokens) == (rs["avg_prompt_tokens"], rs["avg_completion_tokens"])
        assert u.status_codes == rs["status_codes"]
        assert u.total_tokens_est == round(rs["avg_total_tokens"] * rs["successful_count"])
        assert t.runtime_seconds == efm["evaluation"]["runtime_seconds"]  # reported as is
        assert t.elapsed_source == "log"
        assert t.elapsed_seconds == pytest.approx(log_seconds(FIX / name / mt["service"] / "logs" / "stdout.log"))
        progress = json.loads((art / "evalcompose_bench" / "progress.json").read_text())
        assert t.progress == f"{progress['done']}/{progress['total']}"


def test_errors_are_counted_from_status_codes():
    res = read_results(read_run(FIX / "standin_b_errors"))
    for t in res.tasks:
        rs = json.loads((artifacts("standin_b_errors", t.service) / METRICS_FILE).read_text())["response_stats"]
        assert t.usage.failed == sum(v for k, v in rs["status_codes"].items() if k != "200")
        assert t.usage.failed > 0


def test_interrupted_task_is_partial_and_names_what_is_missing():
    res = read_results(read_run(FIX / "interrupted"))
    by = {t.service: t for t in res.tasks}
    t = by["arithmetic"]
    assert t.status == PARTIAL
    assert t.missing == [RESULTS_FILE]
    marker = json.loads((artifacts("interrupted", "arithmetic") / ".nemo_evaluator_interrupted").read_text())
    assert any("interrupted" in n and marker["signal"] in n for n in t.notes)
    assert t.scores == []
    rs = json.loads((artifacts("interrupted", "arithmetic") / METRICS_FILE).read_text())["response_stats"]
    assert t.usage.requests == rs["count"]
    assert t.runtime_seconds is None  # this eval_factory_metrics.json has no "evaluation" block
    progress = json.loads((artifacts("interrupted", "arithmetic") / "evalcompose_bench" / "progress.json").read_text())
    assert t.progress == f"{progress['done']}/{progress['total']}"
    assert by["arithmetic_completions"].status == COMPLETE


def test_never_started_run_is_missing_everything():
    res = read_results(read_run(FIX / "never_started"))
    assert [t.status for t in res.tasks] == [MISSING, MISSING]
    for t in res.tasks:
        assert t.missing == [RESULTS_FILE, METRICS_FILE]
        assert any("never started" in n for n in t.notes)
        assert t.usage is None and t.scores == [] and t.elapsed_seconds is None


def copy_run(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIX / name, dst)
    return dst


def test_missing_metrics_file_makes_a_partial_result_that_keeps_its_scores(tmp_path):
    run_dir = copy_run(tmp_path, "standin_complete")
    (run_dir / "arithmetic" / "artifacts" / METRICS_FILE).unlink()
    t = read_results(read_run(run_dir)).tasks[0]
    assert t.status == PARTIAL and t.missing == [METRICS_FILE]
    assert t.usage is None and t.runtime_seconds is None
    assert t.elapsed_source == "log"
    assert {s.key: s.value for s in t.scores} == flat_scores(t.scores)
    assert t.scores


def test_unreadable_results_file_is_named(tmp_path):
    run_dir = copy_run(tmp_path, "standin_complete")
    (run_dir / "arithmetic" / "artifacts" / RESULTS_FILE).write_text("results: [unclosed\n")
    t = read_results(read_run(run_dir)).tasks[0]
    assert t.status == PARTIAL
    assert any(RESULTS_FILE in n for n in t.notes)


def test_request_window_is_used_when_there_is_no_log(tmp_path):
    run_dir = copy_run(tmp_path, "standin_complete")
    (run_dir / "arithmetic" / "logs" / "stdout.log").unlink()
    t = read_results(read_run(run_dir)).tasks[0]
    runs = json.loads((run_dir / "arithmetic" / "artifacts" / METRICS_FILE).read_text())["response_stats"]["inference_run_times"]
    expected = sum((datetime.fromisoformat(r["last_request_time"]) - datetime.fromisoformat(r["run_start"])).total_seconds()
                   for r in runs.values())
    assert t.elapsed_source == "requests"
    assert t.elapsed_seconds == pytest.approx(expected, abs=1e-3)


def test_flattened_keys_follow_the_launcher_including_nested_groups():
    """Built from real values; key names and order as nemo-evaluator-launcher 0.2.6's
    ``_extract_metrics_from_results`` returns them (checked against the real package)."""
    a = yaml.safe_load((artifacts("standin_complete", "arithmetic") / RESULTS_FILE).read_text())["results"]
    b = yaml.safe_load((artifacts("standin_b_errors", "arithmetic_completions") / RESULTS_FILE).read_text())["results"]
    am = a["tasks"]["arithmetic"]["metrics"]
    bm = b["tasks"]["arithmetic_completions"]["metrics"]
    acc = am["exact_match"]["scores"]["accuracy"]
    nested = {
        "groups": {"bench": {"metrics": am, "groups": {"chat": {"metrics": am},
                                                        "completions": {"metrics": bm, "groups": {"deep": {"metrics": bm}}}}}},
        "tasks": {**a["tasks"], **b["tasks"],
                  "same": {"metrics": {"acc": {"scores": {"acc": {"value": acc["value"]}},
                                               "stats": {"stderr": acc["stats"]["stderr"]}}}}},
    }
    av, bv = acc["value"], bm["exact_match"]["scores"]["accuracy"]["value"]
    flat = flat_scores(extract_scores(nested))
    assert list(flat.items()) == [
        ("bench_chat_exact_match_accuracy", av),
        ("bench_completions_deep_exact_match_accuracy", bv),
        ("bench_completions_exact_match_accuracy", bv),
        ("bench_exact_match_accuracy", av),
        ("arithmetic_exact_match_accuracy", av),
        ("arithmetic_completions_exact_match_accuracy", bv),
        ("same_acc", av),
        ("same_acc_stderr", acc["stats"]["stderr"]),
    ]


def test_conflicting_keys_keep_the_first_value_and_say_so():
    a = yaml.safe_load((artifacts("standin_complete", "arithmetic") / RESULTS_FILE).read_text())["results"]
    b = yaml.safe_load((artifacts("standin_b_errors", "arithmetic") / RESULTS_FILE).read_text())["results"]
    doc = {"groups": {"arithmetic": a["tasks"]["arithmetic"]}, "tasks": {"arithmetic": b["tasks"]["arithmetic"]}}
    notes: list[str] = []
    flat = flat_scores(extract_scores(doc, notes))
    assert flat == {"arithmetic_exact_match_accuracy": a["tasks"]["arithmetic"]["metrics"]["exact_match"]["scores"]["accuracy"]["value"]}
    assert any("arithmetic_exact_match_accuracy" in n for n in notes)


def test_load_results_by_job_id_keeps_only_that_job(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALCOMPOSE_HOME", str(tmp_path / "home"))
    m = meta("standin_complete")
    register(m["invocation_id"], FIX / "standin_complete")
    [run] = load_results([m["tasks"][1]["job_id"]])
    assert [t.job_id for t in run.tasks] == [m["tasks"][1]["job_id"]]
    [run] = load_results([m["invocation_id"][:6], m["tasks"][0]["job_id"]])  # the whole run wins
    assert len(run.tasks) == 2
    with pytest.raises(RunNotFound):
        load_results(["ffffffffffff"])


def test_cli_results_json_lists_every_run_and_task():
    from typer.testing import CliRunner

    from composer.cli import app

    out = CliRunner().invoke(app, ["results", *[str(FIX / n) for n in RUNS], "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [r["invocation_id"] for r in data] == [meta(n)["invocation_id"] for n in RUNS]
    statuses = {t["job_id"]: t["status"] for r in data for t in r["tasks"]}
    assert sorted(set(statuses.values())) == [COMPLETE, MISSING, PARTIAL]
    t0 = data[0]["tasks"][0]
    expected = task_scores_from_file(artifacts("standin_complete", "arithmetic") / RESULTS_FILE)
    assert {(s["name"], s["metric"], s["score"]): s["value"] for s in t0["scores"] if s["kind"] == "task"} == \
        {k: v["value"] for k, v in expected.items()}
    assert data[2]["tasks"][0]["missing"] == [RESULTS_FILE]
    assert data[0]["tasks"][0]["usage"]["failed"] == 0


def test_print_results_names_missing_and_partial_results():
    from rich.console import Console

    from composer.cli.results_cmds import print_results

    console = Console(record=True, width=100)
    print_results([read_run(FIX / n) for n in RUNS], console)
    text = console.export_text()
    expected = task_scores_from_file(artifacts("standin_b_errors", "arithmetic") / RESULTS_FILE)
    assert f"{next(iter(expected.values()))['value']:.4g}" in text
    assert "missing results.yml" in text
    assert "partial" in text and "interrupted" in text
    assert "never started" in text
    for n in RUNS:
        assert meta(n)["invocation_id"] in text


def test_cli_unknown_run_exits_3():
    code, _, err = run_cli(["results", "/nonexistent/run"])
    assert code == 3, err
    assert err.startswith("error: ")

"""Issue 9, class 1 without Docker: which tasks auto_export exports, once, to what the config says.

The scheduler's part (calling the hook as each task exits) runs on a real engine in
tests/integration/test_autoexport.py; here the hook's decisions run on recorded run folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from composer.autoexport import destinations, export_task, hook_argv, marker, settings
from composer.errors import EvalComposeError
from evalcompose_testlib import TESTS, run_cli

FIX = TESTS / "fixtures" / "results"


def run_with_export(tmp_path: Path, export: dict, auto: list[str] | None) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(FIX / "standin_complete", run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    config["export"] = export
    if auto is not None:
        config.setdefault("execution", {})["auto_export"] = {"destinations": auto}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return run_dir


def test_a_successful_task_is_exported_once_per_destination(tmp_path: Path) -> None:
    out = tmp_path / "exported"
    run_dir = run_with_export(tmp_path, {"local": {"format": "json", "output_dir": str(out)}}, ["local"])
    assert hook_argv(run_dir)[-2:] == ("_autoexport", str(run_dir))
    first = export_task(run_dir, "arithmetic", "SUCCESS")
    assert "exported to local" in first[0] and marker(run_dir, "arithmetic", "local").is_file()
    files = list(out.rglob("processed_results.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["benchmarks"]
    assert "already exported" in export_task(run_dir, "arithmetic", "SUCCESS")[0]


@pytest.mark.parametrize("state", ["FAILED", "KILLED", "RUNNING"])
def test_an_unsuccessful_task_is_never_exported(tmp_path: Path, state: str) -> None:
    out = tmp_path / "exported"
    run_dir = run_with_export(tmp_path, {"local": {"output_dir": str(out)}}, ["local"])
    assert "not exported" in export_task(run_dir, "arithmetic", state)[0]
    assert not out.exists() and not marker(run_dir, "arithmetic", "local").exists()


def test_gsheets_is_refused_at_export_time_with_one_clear_line(tmp_path: Path) -> None:
    run_dir = run_with_export(tmp_path, {"gsheets": {"spreadsheet_name": "s"}}, ["gsheets"])
    with pytest.raises(EvalComposeError) as err:
        export_task(run_dir, "arithmetic", "SUCCESS")
    assert "gsheets" in err.value.one_line() and "\n" not in err.value.one_line()


def test_older_configs_place_and_no_auto_export(tmp_path: Path) -> None:
    config = {"execution": {"auto_export": {"destinations": ["mlflow"], "configs": {"mlflow": {"tracking_uri": "a",
                                                                                             "experiment_name": "e"}}}},
              "export": {"mlflow": {"tracking_uri": "b"}}}
    assert destinations(config) == ["mlflow"] and settings(config, "mlflow") == {"tracking_uri": "b", "experiment_name": "e"}
    assert hook_argv(run_with_export(tmp_path, {}, None)) is None


def test_export_command_uses_the_configs_destinations(tmp_path: Path) -> None:
    out = tmp_path / "exported"
    run_dir = run_with_export(tmp_path, {"local": {"format": "csv", "output_dir": str(out)}}, None)
    code, stdout, stderr = run_cli(["export", str(run_dir)])
    assert code == 0, stderr
    assert stdout.startswith("local:") and list(out.rglob("processed_results.csv"))

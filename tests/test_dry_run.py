"""``evalcompose up CONFIG --dry-run [--json]``, ``run --config-dir --config-name --dry-run`` and
``ls tasks``, through the real CLI, for every seed config and every example (issue 2, "Done when")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from composer.catalog import DATA
from composer.layout import COMPOSE_FILE
from evalcompose_testlib import EXAMPLES, SEED_CONFIGS, TESTS, compose_command, invoke_cli, run_cli

CONFIGS = SEED_CONFIGS + EXAMPLES
IDS = [f"{p.parent.name}/{p.stem}" for p in CONFIGS]


class DryRun:
    def __init__(self, config: Path, cwd: Path, home: Path, code: int, stdout: str, stderr: str):
        self.config, self.cwd, self.home = config, cwd, home
        self.code, self.stdout, self.stderr = code, stdout, stderr


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, DryRun]:
    """``up X --dry-run --json`` once per config (each in its own folder and run index)."""
    out = {}
    for config in CONFIGS:
        root = tmp_path_factory.mktemp(f"dry-{config.stem}")
        cwd, home = root / "work", root / "home"
        cwd.mkdir()
        result = run_cli(["up", str(config), "--dry-run", "--json"], cwd=cwd, env={"EVALCOMPOSE_HOME": str(home)})
        out[config] = DryRun(config, cwd, home, *result)
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_dry_run_json(dry_runs, config: Path) -> None:
    run = dry_runs[config]
    assert run.code == 0, run.stderr
    info = json.loads(run.stdout)  # exactly one JSON object, nothing else on stdout
    assert isinstance(info, dict)
    inv = info["invocation_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", inv)
    assert info["project"] == f"evalcompose-{inv}"
    run_dir = Path(info["run_dir"])
    assert run_dir.is_absolute() and run_dir.is_dir()
    assert re.fullmatch(rf"\d{{8}}_\d{{6}}-{inv}", run_dir.name)
    assert run.cwd in run_dir.parents  # relative output_dir: under the current folder
    doc = yaml.safe_load((run_dir / COMPOSE_FILE).read_text(encoding="utf-8"))
    assert doc["name"] == info["project"] and doc["x-evalcompose"]["invocation_id"] == inv
    assert [t["job_id"] for t in info["tasks"]] == [f"{inv}.{i}" for i in range(len(info["tasks"]))]
    for task in info["tasks"]:
        assert (run_dir / task["service"] / "run_config.yml").is_file()
        assert (run_dir / task["service"] / "artifacts").is_dir()
    index = json.loads((run.home / "runs" / f"{inv}.json").read_text(encoding="utf-8"))
    assert Path(index["run_dir"]) == run_dir.resolve()


@pytest.mark.compose
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_dry_run_project_passes_compose_config(dry_runs, config: Path) -> None:
    import os
    import subprocess

    run = dry_runs[config]
    assert run.code == 0, run.stderr
    info = json.loads(run.stdout)
    env = dict(os.environ)
    env.update({name: "dummy" for name in info["host_variables"]})
    result = subprocess.run([*compose_command(), "config", "--quiet"], cwd=info["run_dir"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_seed_tutorial_text_dry_run(tmp_cwd: Path) -> None:
    """The human output: ids, run folder, the chosen harness.task per task, notes, the compose text."""
    code, out, err = run_cli(["up", str(TESTS / "seed_configs" / "tutorial_local_endpoint.yaml"), "--dry-run"],
                             env={"API_KEY": None})
    assert code == 0, err
    assert "lm-evaluation-harness.ifeval" in out and "bigcode-evaluation-harness.mbpp-chat" in out
    assert "API_KEY" in out and "NOT SET" in out  # dry run works without the key and says so
    assert "name: evalcompose-" in out  # the compose project is shown
    assert "'mbpp' is bigcode-evaluation-harness.mbpp-chat" in out  # the resolution is printed
    run_dirs = list((tmp_cwd / "results").rglob(COMPOSE_FILE))
    assert len(run_dirs) == 1


def test_run_with_config_dir_and_name(tmp_cwd: Path) -> None:
    code, out, err = run_cli(["run", "--config-dir", str(TESTS / "seed_configs"), "--config-name",
                              "local_llama_3_1_8b_instruct", "--dry-run", "--json",
                              "-o", "execution.output_dir=runs", "-o", "execution.mode=parallel"])
    assert code == 0, err
    info = json.loads(out)
    assert Path(info["run_dir"]).parent == tmp_cwd / "runs"
    assert [t["task"] for t in info["tasks"]] == ["lm-evaluation-harness.ifeval", "simple_evals.gpqa_diamond"]
    assert info["max_parallel"] is None


def test_two_dry_runs_get_distinct_invocations(tmp_cwd: Path) -> None:
    config = str(TESTS / "seed_configs" / "adapter_localhost.yaml")
    first = json.loads(invoke_cli(["up", config, "--dry-run", "--json"]).stdout)
    second = json.loads(invoke_cli(["up", config, "--dry-run", "--json"]).stdout)
    assert first["invocation_id"] != second["invocation_id"]
    assert first["run_dir"] != second["run_dir"]


def test_ls_tasks_json_lists_the_catalog() -> None:
    code, out, err = run_cli(["ls", "tasks", "--json"])
    assert code == 0, err
    tasks = json.loads(out)
    assert len(tasks) >= 421
    for t in tasks:
        assert t["harness"] and t["image"] and t["endpoint_types"], t
        assert set(t["endpoint_types"]) <= {"chat", "completions", "embedding", "vlm"}
    listed = {(t["harness"], t["task"]) for t in tasks}
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    assert {(t["harness"], t["name"]) for t in raw["tasks"]} <= listed
    images = {(t["harness"], t["image"]) for t in tasks}
    assert {(h, v["image"]) for h, v in raw["harnesses"].items()} <= images


def test_ls_tasks_filter_and_text() -> None:
    code, out, err = invoke_cli(["ls", "tasks", "ifeval"])
    assert code == 0, err
    assert "lm-evaluation-harness.ifeval" in out and "codec.ifeval" in out
    assert "gsm8k" not in out


@pytest.mark.parametrize("args", [["up", "x.yaml", "--bogus"], ["no-such-command"], ["ls", "runs", "--jsn"],
                                  ["up", "--bogus"], ["nosuchcmd"], ["kill"], ["status", "--json=3"], ["up", "x", "-o"],
                                  ["logs"], ["down"], ["resume", "a", "b"], ["up", "--env-file"]])
def test_a_usage_error_is_exit_2_without_traceback(args) -> None:
    """Issue 9, class 11: one short line, exit 2, under every typer/click the ranges allow
    (scripts/test.sh runs this at the lowest versions too)."""
    code, out, err = run_cli(args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--help" in lines[0], err

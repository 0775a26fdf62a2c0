"""deployment: llamacpp: llama-server's command line, slots sized from the tasks, GPUs, the model
source, and the errors a user sees. Pure code (plan + render), plus the CLI for the messages."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from evalcompose_testlib import FIXED_CWD, FIXED_ID, FIXED_NOW, FIXED_USER, write_config
from hypothesis import given
from hypothesis import strategies as st

from composer.catalog import load_catalog
from composer.config.loader import load_config
from composer.deploy import CHECKPOINT, LLAMA_SERVER, peak_concurrency
from composer.errors import ConfigError
from composer.plan import build_plan
from composer.render import compose_document

TASKS_PARALLELISM = {"ifbench.ifbench": None, "simple_evals.mgsm": 3, "simple_evals.gpqa_diamond": 5}


def config_text(*, deployment: str = "  checkpoint_path: /models/m.gguf\n", execution: str = "  mode: parallel\n",
                tasks: dict[str, int | None] = TASKS_PARALLELISM, params: str = "") -> str:
    lines = []
    for name, parallelism in tasks.items():
        lines.append(f"    - name: {name}")
        if parallelism is not None:
            lines.append(f"      nemo_evaluator_config: {{config: {{params: {{parallelism: {parallelism}}}}}}}")
    return ("defaults:\n  - execution: local\n  - deployment: llamacpp\n  - _self_\n"
            f"execution:\n  output_dir: out\n{execution}"
            f"deployment:\n  served_model_name: tiny\n{deployment}"
            f"evaluation:\n{params}  tasks:\n" + "\n".join(lines) + "\n")


def plan_of(tmp_path: Path, text: str, overrides=()):
    loaded = load_config(write_config(tmp_path, text), list(overrides), {})
    return build_plan(loaded, load_catalog(), invocation_id=FIXED_ID, now=FIXED_NOW, user=FIXED_USER, cwd=FIXED_CWD)


def argv(plan) -> list[str]:
    return shlex.split(plan.model.command)


def flag(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


# --------------------------------------------------------------------------- slots


def test_parallel_mode_gives_one_slot_per_request_of_every_task(tmp_path: Path) -> None:
    # ifbench sets no parallelism: its harness default (8, from the catalog) is what it sends.
    default = next(t for t in load_catalog().tasks if t.qualified == "ifbench.ifbench").default_parallelism
    plan = plan_of(tmp_path, config_text())
    words = argv(plan)
    assert plan.model.slots == default + 3 + 5
    assert flag(words, "--parallel") == str(plan.model.slots)
    assert flag(words, "--ctx-size") == str(4096 * plan.model.slots)  # llama-server splits it among slots


def test_max_parallel_counts_only_the_largest_tasks_that_can_run_together(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(tasks={"simple_evals.mgsm": 3, "simple_evals.gpqa_diamond": 5,
                                                "simple_evals.mmlu_pro": 2}, execution="  mode: parallel\n  max_parallel: 2\n"))
    assert plan.model.slots == 5 + 3


def test_sequential_mode_needs_the_largest_task_only(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(execution="  mode: sequential\n",
                                         tasks={"simple_evals.mgsm": 3, "simple_evals.gpqa_diamond": 5}))
    assert plan.model.slots == 5


def test_evaluation_level_parallelism_applies_to_every_task(tmp_path: Path) -> None:
    params = "  nemo_evaluator_config: {config: {params: {parallelism: 1}}}\n"
    plan = plan_of(tmp_path, config_text(tasks={"simple_evals.mgsm": None, "simple_evals.gpqa_diamond": None},
                                         params=params))
    assert plan.model.slots == 2


def test_explicit_parallel_wins_and_slot_context_scales(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(), ["deployment.parallel=2", "deployment.slot_context=1000"])
    words = argv(plan)
    assert (flag(words, "--parallel"), flag(words, "--ctx-size")) == ("2", "2000")


@given(st.lists(st.integers(min_value=0, max_value=64), min_size=1, max_size=12),
       st.one_of(st.none(), st.integers(min_value=1, max_value=12)))
def test_peak_concurrency_is_what_the_busiest_lanes_can_send(parallelisms: list[int], lanes: int | None) -> None:
    peak = peak_concurrency(parallelisms, lanes)
    effective = [max(p, 1) for p in parallelisms]
    running = len(effective) if lanes is None else min(lanes, len(effective))
    assert peak >= max(effective)  # the largest task always fits
    assert peak <= sum(effective)  # never more than every task at once
    # no choice of `running` tasks sends more than the peak
    assert peak >= sum(sorted(effective)[-running:])


# --------------------------------------------------------------------------- command line and service


def test_checkpoint_is_mounted_read_only_and_served_under_its_alias(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text())
    words = argv(plan)
    assert words[0] == LLAMA_SERVER
    assert flag(words, "-m") == CHECKPOINT and "-hf" not in words
    assert flag(words, "--alias") == "tiny"
    assert (flag(words, "--host"), flag(words, "--port")) == ("0.0.0.0", "8000")
    svc = compose_document(plan)["services"]["model"]
    assert f"/models/m.gguf:{CHECKPOINT}:ro" in svc["volumes"]
    assert "deploy" not in svc  # CPU: no GPU reservation
    assert svc["image"] == "ghcr.io/ggml-org/llama.cpp:server"
    task = next(t for t in plan.tasks if t.task == "ifbench.ifbench")
    assert task.run_config["target"]["api_endpoint"]["url"] == "http://model:8000/v1/chat/completions"
    assert task.run_config["target"]["api_endpoint"]["model_id"] == "tiny"


def test_hf_model_handle_uses_llama_server_download_into_the_model_cache(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(deployment="  hf_model_handle: ggml-org/tiny-GGUF:Q8_0\n"))
    words = argv(plan)
    assert flag(words, "-hf") == "ggml-org/tiny-GGUF:Q8_0" and "-m" not in words
    assert "model-cache:/root/.cache/llama.cpp" in compose_document(plan)["services"]["model"]["volumes"]
    assert "HF_TOKEN" in plan.model.optional


def test_gpu_layers_reserve_gpus_and_offload(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(), ["deployment.gpu_layers=99", "deployment.threads=3",
                                             "deployment.image=ghcr.io/ggml-org/llama.cpp:server-cuda"])
    words = argv(plan)
    assert (flag(words, "--n-gpu-layers"), flag(words, "--threads")) == ("99", "3")
    devices = compose_document(plan)["services"]["model"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "capabilities": ["gpu"], "count": "all"}]


def test_extra_args_come_last_and_a_user_command_is_kept_as_is(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(), ["deployment.extra_args=--jinja --temp 0"])
    assert argv(plan)[-3:] == ["--jinja", "--temp", "0"]
    own = plan_of(tmp_path, config_text(), ["+deployment.command=/app/llama-server -m /checkpoint --port 8000"])
    assert own.model.command == "/app/llama-server -m /checkpoint --port 8000"


def test_values_reach_llama_server_as_single_words(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, config_text(), ["deployment.served_model_name=my model; rm -rf /"])
    assert flag(argv(plan), "--alias") == "my model; rm -rf /"


def test_no_model_source_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        plan_of(tmp_path, config_text(deployment=""))
    assert "deployment.checkpoint_path" in str(err.value.one_line())
    assert "hf_model_handle" in err.value.one_line()


def test_missing_served_model_name_is_mandatory(tmp_path: Path) -> None:
    text = config_text().replace("  served_model_name: tiny\n", "")
    with pytest.raises(ConfigError) as err:
        plan_of(tmp_path, text)
    assert "served_model_name" in err.value.one_line()


def test_dry_run_of_the_real_cpu_example_writes_the_shared_server(run_cli, tmp_cwd: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    result = run_cli(["up", str(repo / "examples" / "real_cpu.yaml"), "--dry-run", "--json",
                      "-o", "execution.output_dir=out", "-o", "evaluation.build=false"], env={"EVALCOMPOSE_CACHE": str(tmp_cwd / "cache")})
    assert result.code == 0, result.stderr
    import json

    info = json.loads(result.stdout)
    assert info["model"]["image"] == "evalcompose/llama-server:0.1"
    assert [t["task"] for t in info["tasks"]] == ["ifbench.ifbench"]
    compose = (Path(info["run_dir"]) / "compose.yaml").read_text()
    assert f"{tmp_cwd / 'cache'}/models/smollm2/SmolLM2-135M-Instruct.F16.gguf:/checkpoint:ro" in compose
    assert "--parallel 4" in compose


@pytest.mark.docker
def test_up_with_a_missing_checkpoint_stops_before_anything_is_written(run_cli, tmp_cwd: Path) -> None:
    """exit 2, one line naming the key and how to get the model; no run folder, nothing started."""
    repo = Path(__file__).resolve().parents[1]
    result = run_cli(["up", str(repo / "examples" / "real_cpu.yaml"), "-o", "execution.output_dir=out"],
                     env={"EVALCOMPOSE_CACHE": str(tmp_cwd / "empty-cache")})
    assert result.code == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "deployment.checkpoint_path" in result.stderr and "evalcompose models fetch smollm2" in result.stderr
    assert not (tmp_cwd / "out").exists()

"""Issue 9: every local config the launcher's repository shipped (tests/launcher_corpus/) and one
config per class of the issue dry-run into a project the Compose schema and, where the Compose
CLI is present, ``docker compose config --quiet`` accept; and mean what the launcher ran."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from composer.config.docker_args import parse_docker_args
from composer.errors import ConfigError
from composer.layout import COMPOSE_FILE
from evalcompose_testlib import REPO, TESTS, compose_command, load_and_render, write_config
from test_compose_schema import compose_config, write_project

CORPUS = sorted((TESTS / "launcher_corpus").glob("*.yaml"))
FILLS = {"local_safety": ["evaluation.tasks.1.nemo_evaluator_config.config.params.extra.judge.url=http://judge.invalid/v1"]}
SCHEMA = jsonschema.Draft7Validator(json.loads((REPO / "composer/data/compose-spec.json").read_text(encoding="utf-8")))
HOSTED = """\
execution:
  output_dir: out
target: {api_endpoint: {model_id: m, url: "https://example.invalid/v1/chat/completions", api_key_name: API_KEY}}
"""


def accepted(tmp_path: Path, config: Path, overrides=()) -> tuple:
    loaded, plan, files = load_and_render(config, overrides)
    doc = yaml.safe_load(files[COMPOSE_FILE])
    errors = [e.message for e in SCHEMA.iter_errors(doc)]
    assert not errors, errors[:5]
    if compose_command():
        folder = write_project(tmp_path / "run", files)
        result = compose_config(folder, plan.host_variables + list(plan.model.optional if plan.model else ()), "--quiet")
        assert result.returncode == 0, result.stderr
    return loaded, plan, files, doc


@pytest.mark.parametrize("config", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_shipped_local_config_runs(config: Path, tmp_path: Path) -> None:
    _, plan, _, doc = accepted(tmp_path, config, FILLS.get(config.stem, ()))
    assert set(doc["services"]) >= {t.service for t in plan.tasks}


def test_old_override_values_are_yaml_as_nemo_evaluator_read_them(tmp_path: Path) -> None:
    _, plan, _, _ = accepted(tmp_path, TESTS / "launcher_corpus" / "local_llama_3_1_8b_instruct.yaml")
    adapter = plan.tasks[0].run_config["target"]["api_endpoint"]["adapter_config"]
    assert adapter["custom_system_prompt"] == "Think step by step."
    assert adapter["use_system_prompt"] is True
    gpqa = next(t for t in plan.tasks if t.name == "gpqa_diamond")
    assert gpqa.run_config["config"]["params"]["temperature"] == 0.6
    text = write_config(tmp_path, HOSTED + """\
evaluation:
  overrides: {config.params.temperature: '0.6', config.params.extra.flag: 'true'}
  tasks: [{name: lm-evaluation-harness.ifeval, config: {params: {limit_samples: 3}}}]
""")
    params = load_and_render(text)[1].tasks[0].run_config["config"]["params"]
    assert (params["temperature"], params["extra"]["flag"], params["limit_samples"]) == (0.6, True, 3)


@pytest.mark.parametrize(("value", "variable"), [("host:V1", "V1"), ("V1", "V1"), ("$V1", "V1"), ("${V1}", "V1"),
                                                 ("${oc.env:V1}", "V1"), ("$host:V1", "V1"), ("runtime:V1", "V1")])
def test_every_env_spelling_is_a_host_reference(value: str, variable: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + f"evaluation:\n  env_vars: {{X: {json.dumps(value)}}}\n"
                          "  tasks: [{name: lm-evaluation-harness.ifeval}]\n")
    _, plan, files, _ = accepted(tmp_path, config)
    assert plan.tasks[0].secrets["X"] == variable and "X" not in plan.tasks[0].env


@pytest.mark.parametrize("value", ["two words", "a-b", "{}", "1"])
def test_a_value_of_no_spelling_names_its_key(value: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + f"evaluation:\n  tasks:\n    - name: lm-evaluation-harness.ifeval\n"
                          f"      env_vars: {{X: {value if value in ('{}', '1') else json.dumps(value)}}}\n")
    with pytest.raises(ConfigError) as err:
        load_and_render(config)
    assert err.value.key == "evaluation.tasks[0].env_vars.X"


def test_execution_env_vars_sections_and_lit_secret(tmp_path: Path) -> None:
    config = write_config(tmp_path, """\
defaults: [{execution: local}, {deployment: vllm}, _self_]
execution:
  output_dir: out
  env_vars:
    evaluation: {DUMMY_API_KEY: "lit:dummy", A: B_VAR}
    deployment: {HF_TOKEN: "${oc.env:HF_TOKEN}"}
    export: {MLFLOW_TRACKING_TOKEN: "host:MLT"}
deployment: {hf_model_handle: org/model, served_model_name: m}
evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}
""")
    loaded, plan, files, _ = accepted(tmp_path, config)
    assert plan.secret_values == {"DUMMY_API_KEY": "dummy"}
    assert all("dummy" not in text for text in files.values())
    assert loaded.config.export.env_vars == {"MLFLOW_TRACKING_TOKEN": "host:MLT"}
    assert plan.model.secrets["HF_TOKEN"] == "HF_TOKEN"
    assert not any("/checkpoint:ro" in v for v in plan.model.volumes)  # class 8: .get() -> optional


def test_user_variables_and_other_executors_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED.replace("output_dir: out", "output_dir: out\n  num_nodes: 2\n  partition: b")
                          + "judge: {url: http://judge.invalid/v1}\nevaluation:\n  tasks:\n"
                          "    - {name: lm-evaluation-harness.ifeval, nemo_evaluator_config: "
                          "{config: {params: {extra: {judge_url: '${judge.url}'}}}}}\n")
    loaded, plan, _, _ = accepted(tmp_path, config)
    assert plan.tasks[0].run_config["config"]["params"]["extra"]["judge_url"] == "http://judge.invalid/v1"
    assert any(n.startswith("execution.num_nodes") for n in loaded.notes) and any(n.startswith("judge:") for n in loaded.notes)
    typo = write_config(tmp_path, HOSTED + "evalution: {}\nevaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}\n")
    with pytest.raises(ConfigError) as err:
        load_and_render(typo)
    assert "did you mean 'evaluation'" in err.value.one_line()


def test_docker_run_flags_become_compose_keys(tmp_path: Path) -> None:
    flags = ("--privileged --cap-add SYS_PTRACE --device /dev/null --ipc host --ulimit nofile=1024:2048 "
             "--add-host judge:10.0.0.2 --tmpfs /scratch --security-opt seccomp=unconfined --memory 1g --cpus 2 "
             "--label team=eval --workdir /tmp --entrypoint /usr/bin/env --rm -it")
    config = write_config(tmp_path, HOSTED.replace("output_dir: out", f"output_dir: out\n  extra_docker_args: {flags}")
                          + "evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}\n")
    _, _, _, doc = accepted(tmp_path, config)
    svc = doc["services"]["ifeval"]
    assert svc["privileged"] is True and svc["cap_add"] == ["SYS_PTRACE"] and svc["ipc"] == "host"
    assert svc["ulimits"]["nofile"] == {"soft": 1024, "hard": 2048} and svc["mem_limit"] == "1g"
    assert svc["entrypoint"] == ["/usr/bin/env"] and svc["command"] == ["/bin/sh", "/evalcompose/task.sh"]
    assert svc["labels"]["team"] == "eval" and svc["working_dir"] == "/tmp"
    assert parse_docker_args("--rm -it").service == {}


def test_unlisted_tasks_run_with_a_minimal_definition(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + """\
evaluation:
  tasks:
    - {name: my_private_task, container: registry.invalid/mine:1}
    - {name: lm-evaluation-harness.some_new_task}
""")
    _, plan, _, _ = accepted(tmp_path, config)
    assert [(t.image, t.endpoint_type) for t in plan.tasks][0] == ("registry.invalid/mine:1", "chat")
    assert plan.tasks[1].image.startswith("nvcr.io/nvidia/eval-factory/lm-evaluation-harness")
    assert sum("minimal definition" in n for n in plan.notes) == 2


def test_error_path_names_the_tasks_own_nemo_evaluator_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + "evaluation:\n  tasks:\n    - {name: lm-evaluation-harness.ifeval, "
                          "nemo_evaluator_config: {params: {limit_samples: 1}}}\n")
    with pytest.raises(ConfigError) as err:
        load_and_render(config)
    assert err.value.key == "evaluation.tasks[0].nemo_evaluator_config.params"


def test_default_mode_is_parallel_and_said(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + "evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}\n")
    _, plan, _, _ = accepted(tmp_path, config)
    assert plan.max_parallel is None and "execution.mode: parallel" in plan.notes


def test_mandatory_under_export_names_its_path(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + "export: {mlflow: {tracking_uri: '???'}}\n"
                          "evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}\n")
    with pytest.raises(ConfigError) as err:
        load_and_render(config)
    assert err.value.key == "export.mlflow.tracking_uri" and "mandatory" in err.value.message


def test_empty_mappings_mean_none(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED + """\
evaluation:
  nemo_evaluator_config:
  env_vars:
  tasks:
    - {name: lm-evaluation-harness.ifeval, nemo_evaluator_config: null, env_vars: null}
""")
    _, plan, _, _ = accepted(tmp_path, config)
    assert plan.tasks[0].run_config["config"]["type"] == "ifeval"


def test_vlm_on_the_chat_url_and_embedding_on_embeddings(tmp_path: Path) -> None:
    hosted = write_config(tmp_path, HOSTED + "evaluation: {tasks: [{name: vlmevalkit.chartqa}]}\n")
    _, plan, _, _ = accepted(tmp_path, hosted)
    assert plan.tasks[0].endpoint_type == "vlm"
    assert plan.tasks[0].run_config["target"]["api_endpoint"]["url"].endswith("/v1/chat/completions")
    deployed = write_config(tmp_path, """\
defaults: [{execution: local}, {deployment: generic}, _self_]
execution: {output_dir: out}
deployment: {image: org/server:1, command: serve, served_model_name: m}
evaluation: {tasks: [{name: mteb.MTEB}, {name: vlmevalkit.chartqa}]}
""", name="deployed.yaml")
    _, plan, _, _ = accepted(tmp_path / "d", deployed)
    urls = {t.endpoint_type: t.run_config["target"]["api_endpoint"]["url"] for t in plan.tasks}
    assert urls == {"embedding": "http://model:8000/v1/embeddings", "vlm": "http://model:8000/v1/chat/completions"}
    wrong = write_config(tmp_path, HOSTED + "evaluation: {tasks: [{name: mteb.MTEB}]}\n", name="wrong.yaml")
    with pytest.raises(ConfigError) as err:
        load_and_render(wrong)
    assert "/v1/embeddings" in err.value.one_line()


def test_execution_mounts_evaluation_reach_the_tasks(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOSTED.replace("output_dir: out", "output_dir: out\n  mounts: {evaluation: {/data: /data}}")
                          + "evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}\n")
    _, _, _, doc = accepted(tmp_path, config)
    assert "/data:/data" in doc["services"]["ifeval"]["volumes"]

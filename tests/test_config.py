"""Config loading: both config forms, the defaults list, interpolation, refusals, and
``execution.extra_docker_args``."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.catalog import load_catalog
from composer.config.docker_args import parse_docker_args
from composer.config.loader import load_config, locate
from composer.errors import ConfigError
from evalcompose_testlib import EXAMPLES, FIXED_CWD, FIXED_ID, FIXED_NOW, FIXED_USER, SEED_CONFIGS, TESTS, write_config

SEEDS = TESTS / "seed_configs"
URL = "https://example.invalid/v1/chat/completions"


def load_text(folder: Path, text: str, overrides=(), environ=None, name: str = "config.yaml"):
    return load_config(write_config(folder, text, name), list(overrides), environ or {})


def plan_of(loaded):
    from composer.plan import build_plan

    return build_plan(loaded, load_catalog(), invocation_id=FIXED_ID, now=FIXED_NOW, user=FIXED_USER, cwd=FIXED_CWD)


MINIMAL = f"""\
execution:
  output_dir: out
target:
  api_endpoint:
    model_id: org/model
    url: {URL}
evaluation:
  tasks:
    - name: lm-evaluation-harness.ifeval
"""


# --------------------------------------------------------------------------- every shipped config


@pytest.mark.parametrize("path", SEED_CONFIGS + EXAMPLES, ids=lambda p: p.stem)
def test_every_seed_and_example_loads_unchanged(path: Path) -> None:
    loaded = load_config(path, [], {})
    assert loaded.config.evaluation.tasks


# --------------------------------------------------------------------------- the seed documents' form


def test_seed_tutorial_overrides_become_nemo_evaluator_config() -> None:
    loaded = load_config(SEEDS / "tutorial_local_endpoint.yaml", [], {})
    cfg = loaded.config
    assert cfg.evaluation.nemo_evaluator_config == {"config": {"params": {"request_timeout": 3600, "parallelism": 4}}}
    assert cfg.execution.output_dir == "results/meta/llama-3.1-8b-instruct"  # ${target.api_endpoint.model_id}
    assert [t.name for t in cfg.evaluation.tasks] == ["ifeval", "mbpp"]  # bare names, resolved later
    assert any("evaluation.overrides" in n and "seed-document form" in n for n in loaded.notes)


def test_seed_task_overrides_and_unprefixed_env() -> None:
    cfg = load_config(SEEDS / "host_network_multitask.yaml", [], {}).config
    gpqa = cfg.evaluation.tasks[3]
    assert gpqa.nemo_evaluator_config == {"config": {"params": {
        "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 8192, "parallelism": 4}}}
    assert gpqa.env_vars == {"HF_TOKEN": "host:HF_TOKEN_FOR_GPQA_DIAMOND"}
    assert cfg.evaluation.nemo_evaluator_config["target"]["api_endpoint"]["adapter_config"] == {
        "use_reasoning": True, "use_system_prompt": True, "custom_system_prompt": "Think step by step."}


def test_seed_unprefixed_env_values_name_host_variables() -> None:
    loaded = load_config(SEEDS / "env_vars_reference.yaml", [], {})
    cfg = loaded.config
    assert cfg.evaluation.env_vars == {"API_KEY": "host:YOUR_API_KEY_ENV_VAR_NAME",
                                       "CUSTOM_VAR": "host:YOUR_CUSTOM_ENV_VAR_NAME"}
    assert cfg.evaluation.tasks[0].env_vars == {"TASK_SPECIFIC_VAR": "host:TASK_ENV_VAR_NAME"}
    assert sum("unprefixed value" in n for n in loaded.notes) == 3


def test_explicit_nemo_evaluator_config_wins_over_overrides(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, f"""
        execution: {{output_dir: out}}
        target: {{api_endpoint: {{model_id: m, url: "{URL}"}}}}
        evaluation:
          overrides:
            config.params.parallelism: 4
            config.params.limit_samples: 10
          nemo_evaluator_config:
            config: {{params: {{parallelism: 8}}}}
          tasks: [{{name: lm-evaluation-harness.ifeval}}]
    """).config
    assert cfg.evaluation.nemo_evaluator_config == {"config": {"params": {"parallelism": 8, "limit_samples": 10}}}


def test_seed_override_keys_must_start_with_config_or_target(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, f"""
            execution: {{output_dir: out}}
            target: {{api_endpoint: {{model_id: m, url: "{URL}"}}}}
            evaluation:
              tasks: [{{name: ifeval, overrides: {{params.limit_samples: 1}}}}]
        """)
    assert err.value.key == "evaluation.tasks[0].overrides.params.limit_samples"


def test_older_api_key_and_execution_env_vars(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, f"""
        execution:
          output_dir: out
          env_vars: {{A: lit:1}}
        target: {{api_endpoint: {{model_id: m, url: "{URL}", api_key: MY_KEY_VAR}}}}
        evaluation: {{tasks: [{{name: lm-evaluation-harness.ifeval}}]}}
    """)
    assert loaded.config.target.api_endpoint.api_key_name == "MY_KEY_VAR"
    assert loaded.config.env_vars == {"A": "lit:1"}


# --------------------------------------------------------------------------- release 0.2.6's form


def test_release_form_is_taken_as_is(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, f"""
        defaults:
          - execution: local
          - deployment: none
          - _self_
        execution:
          output_dir: out
          mode: parallel
        target:
          api_endpoint: {{model_id: m, url: "{URL}", api_key_name: API_KEY}}
        env_vars:
          EVERYWHERE: lit:yes
        evaluation:
          env_vars:
            HF_TOKEN: host:HF_TOKEN
            LITERAL: lit:plain value
            LATER: runtime:SOME_RUNTIME_VAR
          nemo_evaluator_config:
            config: {{params: {{parallelism: 2, request_timeout: 60}}}}
          tasks:
            - name: lm-evaluation-harness.ifeval
              nemo_evaluator_config: {{config: {{params: {{limit_samples: 3}}}}}}
            - name: simple_evals.mmlu_pro
              endpoint_type: chat
              container: my/registry/simple-evals:dev
    """)
    cfg = loaded.config
    assert loaded.notes == []
    assert cfg.evaluation.env_vars == {"HF_TOKEN": "host:HF_TOKEN", "LITERAL": "lit:plain value",
                                       "LATER": "runtime:SOME_RUNTIME_VAR"}
    assert cfg.evaluation.tasks[1].container == "my/registry/simple-evals:dev"
    plan = plan_of(loaded)
    assert [t.task for t in plan.tasks] == ["lm-evaluation-harness.ifeval", "simple_evals.mmlu_pro"]
    assert plan.tasks[0].run_config["config"]["params"] == {"parallelism": 2, "request_timeout": 60, "limit_samples": 3}
    assert plan.tasks[1].image == "my/registry/simple-evals:dev"
    assert plan.tasks[0].env["LITERAL"] == "plain value"
    assert plan.tasks[0].secrets == {"API_KEY": "API_KEY", "HF_TOKEN": "HF_TOKEN", "LATER": "SOME_RUNTIME_VAR"}


# --------------------------------------------------------------------------- defaults list


def test_implicit_defaults_come_from_the_shipped_groups(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, MINIMAL).config
    assert cfg.execution.mode == "parallel"  # the shipped execution/local.yaml default (issue 9: as documented)
    assert cfg.execution.endpoint_readiness_timeout == 600
    assert cfg.deployment.type == "none"


def test_self_last_overrides_the_groups(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, "defaults: [{execution: local}, {deployment: none}, _self_]\n"
                    + MINIMAL.replace("output_dir: out", "output_dir: out\n  mode: parallel")).config
    assert cfg.execution.mode == "parallel"


def test_self_is_appended_when_missing(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, "defaults: [{execution: local}]\n"
                    + MINIMAL.replace("output_dir: out", "output_dir: out\n  mode: parallel")).config
    assert cfg.execution.mode == "parallel"


def test_self_first_keeps_values_that_groups_leave_mandatory(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, "defaults: [_self_, {execution: local}]\n" + MINIMAL).config
    assert cfg.execution.output_dir == "out"


def test_group_choice_from_the_shipped_groups(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, """
        defaults: [{execution: local}, {deployment: vllm}, _self_]
        execution: {output_dir: out}
        deployment: {checkpoint_path: /models/llama, served_model_name: llama, tensor_parallel_size: 2}
        evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}
    """).config
    assert cfg.deployment.type == "vllm"
    assert cfg.deployment.image == "vllm/vllm-openai:latest"
    assert "--tensor-parallel-size=2" in cfg.deployment.command  # ${deployment.*} inside the group resolved
    assert cfg.deployment.command.startswith("vllm serve /checkpoint ")  # select_not_null fell back


def test_select_not_null_prefers_the_hf_handle(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, """
        defaults: [{execution: local}, {deployment: vllm}, _self_]
        execution: {output_dir: out}
        deployment: {checkpoint_path: null, hf_model_handle: org/model, served_model_name: m}
        evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}
    """).config
    assert cfg.deployment.command.startswith("vllm serve org/model ")


@pytest.mark.parametrize(("group", "image"), [("vllm", "vllm/vllm-openai:latest"), ("sglang", "lmsysorg/sglang:latest"),
                                              ("trtllm", "nvcr.io/nvidia/tensorrt-llm/release:1.0.0")])
def test_group_choice_by_override(tmp_path: Path, group: str, image: str) -> None:
    path = write_config(tmp_path, MINIMAL)
    loaded = load_config(path, [f"deployment={group}", "deployment.checkpoint_path=/models/x",
                                "deployment.served_model_name=x"], {})
    assert loaded.config.deployment.type == group
    assert loaded.config.deployment.image == image
    plan = plan_of(loaded)
    assert plan.model is not None and ("/models/x", "/checkpoint", True) in plan.model.volumes


def test_user_config_dir_group_option_wins(tmp_path: Path) -> None:
    write_config(tmp_path, "type: vllm\nimage: my/vllm:1\ncommand: my-serve\nserved_model_name: mine\nport: 9000\n",
                 "deployment/vllm.yaml")
    cfg = load_text(tmp_path, """
        defaults: [{execution: local}, {deployment: vllm}, _self_]
        execution: {output_dir: out}
        evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}
    """).config
    assert (cfg.deployment.image, cfg.deployment.command, cfg.deployment.port) == ("my/vllm:1", "my-serve", 9000)


def test_include_from_the_config_dir(tmp_path: Path) -> None:
    write_config(tmp_path, "execution:\n  mode: parallel\nevaluation:\n  nemo_evaluator_config:\n"
                 "    config: {params: {parallelism: 7}}\n", "common.yaml")
    cfg = load_text(tmp_path, "defaults: [{execution: local}, common, _self_]\n" + MINIMAL).config
    assert cfg.execution.mode == "parallel"
    assert cfg.evaluation.nemo_evaluator_config == {"config": {"params": {"parallelism": 7}}}


def test_include_does_not_reset_group_choices(tmp_path: Path) -> None:
    write_config(tmp_path, "execution:\n  mode: parallel\n", "common.yaml")
    cfg = load_text(tmp_path, """
        defaults: [{execution: local}, {deployment: generic}, common, _self_]
        execution: {output_dir: out}
        deployment: {image: my/server:1, command: serve, served_model_name: m}
        evaluation: {tasks: [{name: lm-evaluation-harness.ifeval}]}
    """).config
    assert cfg.deployment.type == "generic"


def test_missing_include_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, "defaults: [missing_include, _self_]\n" + MINIMAL)
    assert "defaults" in (err.value.key or "")


def test_include_cycle_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, "defaults: [config, _self_]\n", "other.yaml")
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, "defaults: [other, _self_]\n" + MINIMAL)
    assert err.value.key == "defaults"


def test_unknown_group_option_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, "defaults: [{deployment: vlm}, _self_]\n" + MINIMAL)
    assert err.value.key == "defaults[0].deployment"
    assert "did you mean 'vllm'" in err.value.hint


def test_unknown_group(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, "defaults: [{deploymnt: vllm}, _self_]\n" + MINIMAL)
    assert err.value.key == "defaults[0]"


@pytest.mark.parametrize("option", ["slurm/default", "lepton/default", "slurm"])
def test_slurm_and_lepton_are_refused(tmp_path: Path, option: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, f"defaults: [{{execution: {option}}}, _self_]\n" + MINIMAL)
    assert "execution" in err.value.key
    assert "local" in err.value.one_line()


def test_slurm_by_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, MINIMAL), ["execution=slurm/default"], {})
    assert "local" in err.value.one_line()


def test_execution_type_must_be_local(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("output_dir: out", "output_dir: out\n  type: slurm"))
    assert err.value.key == "execution.type"


# --------------------------------------------------------------------------- interpolation


def test_key_interpolation(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, MINIMAL.replace("output_dir: out", "output_dir: res/${target.api_endpoint.model_id}")).config
    assert cfg.execution.output_dir == "res/org/model"


def test_env_interpolation_with_and_without_default(tmp_path: Path) -> None:
    text = MINIMAL.replace("output_dir: out", "output_dir: res/${oc.env:RUN_TAG,nightly}")
    assert load_text(tmp_path, text).config.execution.output_dir == "res/nightly"
    assert load_text(tmp_path, text, environ={"RUN_TAG": "t7"}).config.execution.output_dir == "res/t7"


def test_env_interpolation_reads_the_given_environ_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RUN_TAG", "from-process")
    text = MINIMAL.replace("output_dir: out", "output_dir: res/${oc.env:RUN_TAG,dflt}")
    assert load_text(tmp_path, text, environ={}).config.execution.output_dir == "res/dflt"


def test_unset_env_interpolation_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("output_dir: out", "output_dir: res/${oc.env:RUN_TAG}"))
    assert err.value.key == "execution.output_dir"
    assert "RUN_TAG" in err.value.one_line()


def test_unset_env_interpolation_says_not_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("output_dir: out", "output_dir: res/${oc.env:RUN_TAG}"))
    assert "RUN_TAG is not set" in err.value.message
    assert "_UnsetEnv" not in err.value.one_line()


@pytest.mark.parametrize("name", ["SOME_API_KEY", "HF_TOKEN", "DB_PASSWORD", "MY_SECRET", "OPENAI_KEY"])
def test_secret_looking_env_interpolation_is_refused(tmp_path: Path, name: str) -> None:
    value = "sk-planted-value-7f3a"
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("model_id: org/model", f"model_id: ${{oc.env:{name}}}"),
                  environ={name: value})
    assert err.value.key == "target.api_endpoint.model_id"
    assert value not in err.value.one_line()


def test_secret_looking_env_interpolation_is_refused_even_with_a_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_text(tmp_path, MINIMAL.replace("model_id: org/model", "model_id: ${oc.env:SOME_API_KEY,x}"))


def test_secret_interpolation_refusal_explains_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("model_id: org/model", "model_id: ${oc.env:SOME_API_KEY}"))
    assert "secret" in err.value.message


def test_unknown_interpolation_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("output_dir: out", "output_dir: ${target.nope}"))
    assert err.value.key == "execution.output_dir"


# --------------------------------------------------------------------------- ??? and validation


def test_mandatory_value_left_unfilled(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("model_id: org/model", "model_id: '???'"))
    assert err.value.key == "target.api_endpoint.model_id"
    assert "mandatory" in err.value.message
    assert "-o target.api_endpoint.model_id=" in err.value.hint


def test_group_mandatory_value_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, MINIMAL), ["deployment=generic"], {})
    assert err.value.key in ("deployment.image", "deployment.command", "deployment.served_model_name")


def test_mandatory_value_filled_by_override(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL.replace("model_id: org/model", "model_id: '???'"))
    assert load_config(path, ["target.api_endpoint.model_id=filled"], {}).config.target.api_endpoint.model_id == "filled"


@pytest.mark.parametrize(("replace", "key", "suggestion"), [
    (("mode", "mdoe"), "execution.mdoe", "mode"),
    (("model_id: org", "modle_id: org"), "target.api_endpoint.modle_id", "model_id"),
    (("- name:", "- nmae: x\n      name:"), "evaluation.tasks[0].nmae", "name"),
])
def test_unknown_keys_suggest(tmp_path: Path, replace, key: str, suggestion: str) -> None:
    text = MINIMAL.replace("output_dir: out", "output_dir: out\n  mode: parallel").replace(*replace)
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, text)
    assert err.value.key == key
    assert f"did you mean '{suggestion}'" in err.value.hint


def test_typo_of_a_mandatory_key_names_the_typo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace("output_dir: out", "outptu_dir: out"))
    assert "outptu_dir" in err.value.one_line()


@pytest.mark.parametrize(("replace", "key"), [
    (("output_dir: out", "output_dir: out\n  max_parallel: lots"), "execution.max_parallel"),
    (("output_dir: out", "output_dir: out\n  max_parallel: 0"), "execution.max_parallel"),
    (("output_dir: out", "output_dir: out\n  mode: sometimes"), "execution.mode"),
    (("- name: lm-evaluation-harness.ifeval", "- name: lm-evaluation-harness.ifeval\n      env_vars: {X: 3}"),
     "evaluation.tasks[0].env_vars.X"),
    (("tasks:\n    - name: lm-evaluation-harness.ifeval", "tasks: lm-evaluation-harness.ifeval"), "evaluation.tasks"),
    (("tasks:\n    - name: lm-evaluation-harness.ifeval", "tasks: []"), "evaluation.tasks"),
    (("api_endpoint:", "api_endpoint:\n    api_key_name: sk-abc123"), "target.api_endpoint.api_key_name"),
])
def test_wrong_types_name_the_key(tmp_path: Path, replace, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL.replace(*replace))
    assert err.value.key == key
    assert "sk-abc123" not in err.value.one_line()


def test_auxiliary_deployments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, MINIMAL + "auxiliary_deployments: {judge: {type: vllm}}\n")
    assert err.value.key == "auxiliary_deployments"


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, "execution: {output_dir: out\n  bad: [\n")
    assert "not valid YAML at line" in err.value.message
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, "- a\n- b\n")
    assert "mapping" in err.value.message


def test_locate(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL, "named.yaml")
    assert locate(None, str(tmp_path), "named") == path
    assert locate(None, str(tmp_path), "named.yaml") == path
    assert locate(str(path), None, None) == path
    for args in ((None, None, None), (str(tmp_path / "nope.yaml"), None, None), (None, str(tmp_path), "nope")):
        with pytest.raises(ConfigError):
            locate(*args)


# --------------------------------------------------------------------------- extra_docker_args


@pytest.mark.parametrize(("text", "field", "value"), [
    ("--network my-net", "network", "my-net"),
    ("--network=my-net", "network", "my-net"),
    ("--net my-net", "network", "my-net"),
    ("--network host", "network", "host"),
    ("--gpus all", "gpus", "all"),
    ("--gpus 2", "gpus", "2"),
    ("--gpus '\"device=0,1\"'", "gpus", '"device=0,1"'),
    ("--shm-size 16g", "shm_size", "16g"),
    ("--shm-size=1g", "shm_size", "1g"),
    ("-e FOO=bar", "env", {"FOO": "bar"}),
    ("--env FOO='a b'", "env", {"FOO": "a b"}),
    ("-e FOO", "host_env", ["FOO"]),
    ("-e HF_TOKEN", "host_env", ["HF_TOKEN"]),
    ("-v /data:/data:ro", "volumes", ["/data:/data:ro"]),
    ("--volume named:/cache", "volumes", ["named:/cache"]),
    ("", "network", None),
])
def test_docker_args_translation(text: str, field: str, value) -> None:
    assert getattr(parse_docker_args(text), field) == value


def test_docker_args_combined() -> None:
    extras = parse_docker_args("--network my-net --gpus all --shm-size 8g -e A=1 -e B -v /d:/d")
    assert (extras.network, extras.gpus, extras.shm_size) == ("my-net", "all", "8g")
    assert (extras.env, extras.host_env, extras.volumes) == ({"A": "1"}, ["B"], ["/d:/d"])


@pytest.mark.parametrize("text", ["--cidfile /tmp/id", "--link db", "--attach stdout", "--sig-proxy=false",
                                  "--network my-net --volumes-from other", "; rm -rf /"])
def test_docker_flags_without_a_compose_equivalent_are_refused(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_docker_args(text)
    assert err.value.key == "execution.extra_docker_args"
    assert "no Docker Compose equivalent" in err.value.message
    word = text.split()[-2 if "volumes-from" in text else 0].split("=")[0]
    assert (word if word.startswith("-") else "word 1 (not a flag)") in err.value.message  # a non-flag may be a key


@pytest.mark.parametrize(("text", "words"), [
    ("--network", "needs a value"),
    ("--gpus", "needs a value"),
    ("-v justone", "SRC:DST"),
    ("'unbalanced", "quotes"),
    ("-e API_KEY=sk-planted", "secret"),
    ("-e HF_TOKEN=hf_planted", "secret"),
])
def test_bad_docker_args(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_docker_args(text)
    assert words in err.value.one_line()
    assert "planted" not in err.value.one_line()


def test_docker_args_reach_the_task_services(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, MINIMAL.replace(
        "output_dir: out", "output_dir: out\n  extra_docker_args: --network my-net --gpus 2 --shm-size 8g "
                           "-e A=1 -e B -v /data:/data:ro"))
    plan = plan_of(loaded)
    task = plan.tasks[0]
    assert plan.external_network == "my-net" and plan.network_mode is None
    assert task.env["A"] == "1" and task.secrets["B"] == "B"
    assert any(m.source == "/data" and m.target == "/data" and m.read_only for m in task.mounts)
    from composer.render import compose_document

    svc = compose_document(plan)["services"][task.service]
    assert svc["shm_size"] == "8g"
    assert svc["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 2
    assert svc["networks"] == ["default", "external"]


def test_network_host_gives_host_networking(tmp_path: Path) -> None:
    plan = plan_of(load_text(tmp_path, MINIMAL.replace("output_dir: out",
                                                       "output_dir: out\n  extra_docker_args: --network host")))
    assert plan.network_mode == "host" and plan.external_network is None

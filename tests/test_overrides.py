"""``-o`` overrides: Hydra's grammar (``a.b=v``, ``+a.b=v``, ``++a.b=v``, ``~a.b``, list indexes,
group choices) parsed and applied to a plain dict, and through :func:`load_config`."""

from __future__ import annotations

import copy

import pytest

from composer.config.loader import load_config
from composer.config.overrides import Override, apply_overrides, group_choices, parse_override
from composer.errors import ConfigError
from evalcompose_testlib import write_config

BASE = {
    "execution": {"output_dir": "out", "mode": "parallel"},
    "evaluation": {"tasks": [{"name": "ifeval"}, {"name": "gsm8k"}]},
}


def applied(*texts: str) -> dict:
    config = copy.deepcopy(BASE)
    apply_overrides(config, [parse_override(t) for t in texts])
    return config


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "op", "path"), [
    ("a.b=1", "set", ("a", "b")),
    ("+a.b=1", "add", ("a", "b")),
    ("++a.b=1", "force", ("a", "b")),
    ("~a.b", "delete", ("a", "b")),
    ("~a.b=", "delete", ("a", "b")),
    ("evaluation.tasks.0.name=x", "set", ("evaluation", "tasks", 0, "name")),
    ("evaluation.tasks[1].name=x", "set", ("evaluation", "tasks", 1, "name")),
    ("a-b.c_d=1", "set", ("a-b", "c_d")),
    ("  a.b=1  ", "set", ("a", "b")),
])
def test_parse_forms(text: str, op: str, path: tuple) -> None:
    o = parse_override(text)
    assert (o.op, o.path) == (op, path)


@pytest.mark.parametrize(("raw", "value"), [
    ("3", 3),
    ("-2", -2),
    ("0.5", 0.5),
    ("true", True),
    ("false", False),
    ("null", None),
    ("[a, b]", ["a", "b"]),
    ("{k: v, n: 1}", {"k": "v", "n": 1}),
    ("", ""),
    ("hello world", "hello world"),
    ("'3'", "3"),
    ('"true"', "true"),
    ("b=c", "b=c"),
    ("http://h:8000/v1/chat/completions", "http://h:8000/v1/chat/completions"),
    ("results/${target.api_endpoint.model_id}", "results/${target.api_endpoint.model_id}"),
    ("[unclosed", "[unclosed"),
])
def test_values_are_parsed_like_hydra(raw: str, value) -> None:
    assert parse_override(f"a.b={raw}").value == value


@pytest.mark.parametrize("text", ["nokey", "a.b", "+a.b"])
def test_missing_equals_sign_is_an_error(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_override(text)
    assert "key=value" in err.value.message


@pytest.mark.parametrize("text", ["=1", "a..b=1", ".a=1", "a.=1", "1a=2", "a b=1", "a.b[x]=1"])
def test_malformed_keys_are_errors(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_override(text)
    assert "not a valid key path" in err.value.message


def test_group_choices_only_take_group_names() -> None:
    parsed = [parse_override(t) for t in ("deployment=vllm", "execution=local", "deployment.port=9",
                                           "+other=x", "~deployment")]
    assert group_choices(parsed) == {"deployment": "vllm", "execution": "local"}


# --------------------------------------------------------------------------- applying


def test_set_existing_key() -> None:
    assert applied("execution.mode=sequential")["execution"]["mode"] == "sequential"


def test_set_missing_key_is_an_error_that_suggests_plus() -> None:
    with pytest.raises(ConfigError) as err:
        applied("execution.max_parallel=2")
    assert err.value.key == "execution.max_parallel"
    assert "+execution.max_parallel" in err.value.hint


def test_add_new_key_and_new_parents() -> None:
    config = applied("+execution.max_parallel=2", "+target.api_endpoint.url=http://h/v1/completions")
    assert config["execution"]["max_parallel"] == 2
    assert config["target"] == {"api_endpoint": {"url": "http://h/v1/completions"}}


def test_add_existing_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as err:
        applied("+execution.mode=sequential")
    assert err.value.key == "execution.mode"


def test_force_adds_or_overrides() -> None:
    config = applied("++execution.mode=sequential", "++execution.max_parallel=4")
    assert config["execution"] == {"output_dir": "out", "mode": "sequential", "max_parallel": 4}


def test_delete() -> None:
    assert "mode" not in applied("~execution.mode")["execution"]


def test_delete_missing_key_is_an_error() -> None:
    with pytest.raises(ConfigError):
        applied("~execution.nope")


@pytest.mark.parametrize("text", ["evaluation.tasks.1.name=mbpp", "evaluation.tasks[1].name=mbpp"])
def test_list_items_by_index(text: str) -> None:
    assert applied(text)["evaluation"]["tasks"] == [{"name": "ifeval"}, {"name": "mbpp"}]


def test_add_list_item_at_the_end() -> None:
    tasks = applied("+evaluation.tasks.2={name: mbpp}")["evaluation"]["tasks"]
    assert tasks[-1] == {"name": "mbpp"}


def test_index_out_of_range_is_an_error() -> None:
    with pytest.raises(ConfigError):
        applied("evaluation.tasks.5.name=x")


def test_list_needs_a_number() -> None:
    with pytest.raises(ConfigError) as err:
        applied("evaluation.tasks.first=x")
    assert "number" in err.value.message


def test_cannot_descend_below_a_value() -> None:
    with pytest.raises(ConfigError):
        applied("execution.mode.sub=x")


def test_overrides_apply_in_order() -> None:
    assert applied("execution.mode=sequential", "execution.mode=parallel")["execution"]["mode"] == "parallel"


def test_group_choice_is_not_applied_as_a_value() -> None:
    config = copy.deepcopy(BASE)
    apply_overrides(config, [Override("set", ("deployment",), "deployment", "vllm")])
    assert "deployment" not in config


# --------------------------------------------------------------------------- through load_config

CONFIG = """
    defaults:
      - execution: local
      - deployment: none
      - _self_
    execution:
      output_dir: results
    target:
      api_endpoint:
        model_id: org/model
        url: https://example.invalid/v1/chat/completions
    evaluation:
      tasks:
        - name: ifeval
"""


def test_overrides_through_load_config(tmp_path) -> None:
    path = write_config(tmp_path, CONFIG)
    cfg = load_config(path, ["execution.output_dir=elsewhere/${target.api_endpoint.model_id}",
                             "+execution.max_parallel=3", "evaluation.tasks.0.name=simple_evals.mmlu_pro",
                             "++evaluation.nemo_evaluator_config.config.params.limit_samples=5",
                             "~target.api_endpoint.model_id", "+target.api_endpoint.model_id=other"]).config
    assert cfg.execution.output_dir == "elsewhere/other"
    assert cfg.execution.max_parallel == 3
    assert cfg.evaluation.tasks[0].name == "simple_evals.mmlu_pro"
    assert cfg.evaluation.nemo_evaluator_config == {"config": {"params": {"limit_samples": 5}}}


def test_group_default_keys_can_be_overridden(tmp_path) -> None:
    """Keys that come from the shipped execution group exist, so plain ``a.b=v`` works on them."""
    path = write_config(tmp_path, CONFIG)
    assert load_config(path, ["execution.endpoint_readiness_timeout=30"]).config.execution.endpoint_readiness_timeout == 30


def test_override_value_is_validated(tmp_path) -> None:
    path = write_config(tmp_path, CONFIG)
    with pytest.raises(ConfigError) as err:
        load_config(path, ["+execution.max_parallel=lots"])
    assert err.value.key == "execution.max_parallel"
    with pytest.raises(ConfigError) as err:
        load_config(path, ["+execution.max_parallel=0"])
    assert err.value.key == "execution.max_parallel"

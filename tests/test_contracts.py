"""The run-folder contract (x-evalcompose, format_version) and the env_vars value type."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from composer.config.envspec import EnvSource, EnvSpec, parse_env_spec
from composer.errors import ConfigError, IncompatibleRun, RunNotFound
from composer.runmeta import FORMAT_VERSION, RunMeta
from composer.workspace import read_run

META = {"format_version": FORMAT_VERSION, "generator": "evalcompose 0.1.0", "invocation_id": "0123456789abcdef",
        "created": "2026-11-22T22:07:15", "max_parallel": 2, "host_variables": ["API_KEY"],
        "model": None,
        "tasks": [{"job_id": "0123456789abcdef.0", "index": 0, "service": "ifeval", "task": "lm-eval.ifeval",
                   "harness": "lm-eval", "image": "img:1", "endpoint_type": "chat", "model_id": "m"}],
        "notes": []}


def _folder(tmp_path, meta):
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump({"name": "evalcompose-x", "x-evalcompose": meta,
                                                           "services": {}}))
    return tmp_path


def test_read_run_returns_typed_metadata(tmp_path):
    run = read_run(_folder(tmp_path, META))
    assert isinstance(run.meta, RunMeta)
    assert run.tasks[0].service == "ifeval" and run.meta.max_parallel == 2 and run.model is None
    assert run.task_dir(run.tasks[0]) == tmp_path.resolve() / "ifeval"


def test_a_newer_folder_says_upgrade(tmp_path):
    meta = {**META, "format_version": FORMAT_VERSION + 1, "generator": "evalcompose 9.0", "tasks": "changed shape"}
    with pytest.raises(IncompatibleRun) as exc:
        read_run(_folder(tmp_path, meta))
    assert "evalcompose 9.0" in exc.value.message and "upgrade" in exc.value.hint
    assert exc.value.exit_code == 3


def test_an_older_folder_names_its_format(tmp_path):
    with pytest.raises(IncompatibleRun, match="format 0"):
        read_run(_folder(tmp_path, {**META, "format_version": 0}))


@pytest.mark.parametrize("meta", [{**META, "tasks": [{"service": "x"}]}, {k: v for k, v in META.items()
                                                                          if k != "format_version"}, "text"])
def test_broken_metadata_is_not_a_run_folder(tmp_path, meta):
    with pytest.raises(RunNotFound, match="not an evalcompose run folder"):
        read_run(_folder(tmp_path, meta))


def test_an_added_optional_field_keeps_the_version_readable(tmp_path):
    assert read_run(_folder(tmp_path, {**META, "engine": "gpu-box"})).invocation_id == META["invocation_id"]


@pytest.mark.parametrize("text, source, value", [("host:HF_TOKEN", EnvSource.HOST, "HF_TOKEN"),
                                                 ("runtime:X", EnvSource.RUNTIME, "X"),
                                                 ("lit:a:b:c", EnvSource.LIT, "a:b:c"), ("lit:", EnvSource.LIT, "")])
def test_env_spec_parsing(text, source, value):
    spec = parse_env_spec(text, "env_vars.X")
    assert (spec.source, spec.value) == (source, value)
    assert spec.host_variable == (None if source is EnvSource.LIT else value)


@pytest.mark.parametrize("text", ["HF_TOKEN", "env:X", "Host:X", ""])
def test_env_spec_without_a_known_prefix_names_the_key(text):
    with pytest.raises(ConfigError, match=r"^evaluation.env_vars.X: value needs a host:"):
        parse_env_spec(text, "evaluation.env_vars.X")


@given(st.sampled_from(list(EnvSource)), st.text())
def test_env_spec_round_trips(source, value):
    assert parse_env_spec(str(EnvSpec(source, value)), "k") == EnvSpec(source, value)

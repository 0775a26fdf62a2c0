"""Issue 10, class 2: files mean what the config said (property-based, through real Compose).

Hypothesis puts arbitrary strings in the fields that reach compose.yaml and the env files (model
id, the server's command line, health path, mount paths, literal env values in task.env and
model.env) and ``docker compose config --format json`` (no daemon) must give each back verbatim.
Compose interpolates ``$`` on reading, and its ``config`` output is itself a compose file, so it
writes a literal ``$`` as ``$$``: the comparison undoes that one escape.

Strings that cannot be one line of a file (control characters) must be refused with a
ConfigError naming the key, never crash or be written. The example count stays modest: each
example runs the Compose binary once (~0.1 s).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import yaml
from evalcompose_testlib import load_and_render
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_compose_schema import compose_config, write_project

from composer.config.docker_args import looks_secret
from composer.errors import ConfigError

# No shrinking: each example runs Compose, and shrinking a failure took minutes (the unshrunk example
# is printed instead).
SETTINGS = settings(max_examples=15, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# OmegaConf reads ${...} in the config itself (the user escapes it as \${...}): not what this test is about.
_ANY = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))


def _no_interpolation(text: str) -> bool:
    return "${" not in text and not text.endswith("\\")


line_text = st.text(_PRINTABLE, min_size=1, max_size=24).filter(_no_interpolation)
env_text = st.text(_ANY, max_size=24).filter(_no_interpolation)
segment = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="/\\"),
                  min_size=1, max_size=10).filter(lambda s: s not in (".", "..") and _no_interpolation(s)
                                                  and s.strip() == s)
abs_path = st.lists(segment, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
health_path = st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%/?#[]"),
                      max_size=20).map(lambda s: "/" + s).filter(_no_interpolation)
env_name = st.from_regex(r"\AV_[A-Z0-9_]{0,8}\Z").filter(lambda n: not looks_secret(n))


def _config(tmp_path: Path, *, model_id: str, command: str, health: str, mount: tuple[str, str],
            model_env: dict[str, str], task_env: dict[str, str], dataset: tuple[str, str]) -> Path:
    doc = {
        "defaults": [{"execution": "local"}, {"deployment": "generic"}, "_self_"],
        "execution": {"output_dir": "out", "mounts": {"deployment": {mount[0]: mount[1]}}},
        "deployment": {"image": "evalcompose/model-standin:0.1", "command": command, "served_model_name": model_id,
                       "endpoints": {"health": health},
                       "env_vars": {k: f"lit:{v}" for k, v in model_env.items()}},
        "evaluation": {"env_vars": {k: f"lit:{v}" for k, v in task_env.items()},
                       "tasks": [{"name": "arithmetic", "dataset_dir": dataset[0], "dataset_mount_path": dataset[1]}]},
    }
    path = tmp_path / "config.yaml"
    # allow_unicode=False: PyYAML writes U+0085 (a YAML line break) raw in a quoted scalar and reads it
    # back as a space; escaped, every character survives the config file itself.
    path.write_text(yaml.safe_dump(doc, allow_unicode=False), encoding="utf-8")
    return path


def _read_back(text):
    return text.replace("$$", "$") if isinstance(text, str) else text


def _mounts(service: dict) -> dict[str, str]:
    """target -> source of a service's volumes as compose config prints them (long form)."""
    return {_read_back(v["target"]): _read_back(v["source"]) for v in service.get("volumes", [])}


@pytest.mark.compose
@SETTINGS
@given(model_id=line_text, command=line_text.filter(str.strip), health=health_path, mount=st.tuples(abs_path, abs_path),
       model_env=st.dictionaries(env_name, env_text, max_size=3), task_env=st.dictionaries(env_name, env_text, max_size=3),
       dataset=st.tuples(abs_path, abs_path))
def test_compose_reads_back_what_the_config_said(tmp_path_factory, model_id, command, health, mount, model_env,
                                                  task_env, dataset) -> None:
    tmp = tmp_path_factory.mktemp("roundtrip")
    if mount[1] in ("/checkpoint", "/evalcompose/model.sh") or dataset[1].startswith(("/results", "/evalcompose")):
        return  # our own mount points
    config = _config(tmp, model_id=model_id, command=command, health=health, mount=mount, model_env=model_env,
                     task_env=task_env, dataset=dataset)
    _, _, files = load_and_render(config)
    result = compose_config(write_project(tmp / "run", files), [], "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    model, task = doc["services"]["model"], doc["services"]["arithmetic"]
    assert _read_back(doc["x-evalcompose"]["model"]["served_model_name"]) == model_id
    assert _read_back(doc["x-evalcompose"]["tasks"][0]["model_id"]) == model_id
    assert [_read_back(c) for c in model["command"]] == [" ".join(command.split())]  # a folded >- line, as written
    assert _read_back(model["healthcheck"]["test"][-1]) == f"http://127.0.0.1:8000{health}"
    assert _mounts(model)[mount[1]] == mount[0]
    assert _mounts(task)[dataset[1]] == dataset[0]
    model_environment = {k: _read_back(v) for k, v in model["environment"].items()}
    task_environment = {k: _read_back(v) for k, v in task["environment"].items()}
    assert {k: model_environment.get(k) for k in model_env} == model_env
    assert {k: task_environment.get(k) for k in task_env} == task_env


bad_line = st.tuples(st.text(_PRINTABLE, max_size=8), st.sampled_from("\n\r\x1b\x07\x7f\u2028"),
                     st.text(_PRINTABLE, max_size=8)).map("".join).filter(_no_interpolation)


@SETTINGS
@given(field=st.sampled_from(["deployment.served_model_name", "deployment.image", "deployment.checkpoint_path",
                              "execution.output_dir", "execution.user", "deployment.endpoints.health"]),
       value=bad_line)
def test_a_value_that_would_split_a_line_is_refused_with_its_key(tmp_path_factory, field, value) -> None:
    tmp = tmp_path_factory.mktemp("badline")
    config = _config(tmp, model_id="m", command="serve", health="/health", mount=("/a", "/b"), model_env={},
                     task_env={}, dataset=("/d", "/datasets"))
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    node = doc
    *parents, last = field.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_and_render(config)
    assert err.value.key == field
    assert value not in err.value.one_line()

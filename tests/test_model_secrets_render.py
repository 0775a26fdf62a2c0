"""Issue 10, classes 1 and 3 without Docker: what the model service's files say about secrets, and
that no shell line we render holds a config value."""

from __future__ import annotations

import re
import shlex
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from evalcompose_testlib import invoke_cli, load_and_render, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.render import HEALTH_PROBE
from composer.templates import templates_dir

SERVERS = ["vllm", "sglang", "nim", "trtllm", "generic"]


def _config(tmp_path: Path, server: str, env_vars: str = "") -> Path:
    return write_config(tmp_path, f"""\
defaults: [{{execution: local}}, {{deployment: {server}}}, _self_]
execution: {{output_dir: out}}
env_vars: {{SHARED_TOKEN: 'host:H10_SHARED'}}
deployment:
  image: example/server:1
  command: serve --model m
  served_model_name: m
  checkpoint_path: /models/m
  env_vars: {{MODEL_API_KEY: 'host:H10_MODEL', PLAIN: 'lit:visible'{env_vars}}}
evaluation: {{tasks: [{{name: arithmetic}}]}}
""")


@pytest.mark.parametrize("server", SERVERS)
def test_model_secrets_are_compose_secrets_for_every_server(tmp_path: Path, server: str) -> None:
    _, _, files = load_and_render(_config(tmp_path, server))
    doc = yaml.safe_load(files["compose.yaml"])
    model = doc["services"]["model"]
    targets = {s["target"]: s["source"] for s in model["secrets"]}
    assert targets == {"MODEL_API_KEY": "H10_MODEL", "SHARED_TOKEN": "H10_SHARED"}
    assert {"H10_MODEL", "H10_SHARED"} <= set(doc["secrets"])
    assert model["entrypoint"] == ["/bin/sh", "/evalcompose/model.sh"] and model["command"] == ["serve --model m"]
    assert "./evalcompose-model.sh:/evalcompose/model.sh:ro" in model["volumes"]
    env = files["model.env"]
    assert "PLAIN=visible" in env and 'EVALCOMPOSE_SECRETS="MODEL_API_KEY SHARED_TOKEN"' in env
    assert "${" not in env and "H10_MODEL" not in env
    assert files["evalcompose-model.sh"].startswith("#!/bin/sh")


@pytest.mark.parametrize("server, token", [("vllm", "HF_TOKEN"), ("sglang", "HF_TOKEN"), ("trtllm", "HF_TOKEN"),
                                           ("nim", "NGC_API_KEY")])
def test_optional_token_only_when_set(tmp_path: Path, server: str, token: str) -> None:
    _, plan, _ = load_and_render(_config(tmp_path, server))
    assert plan.model.optional == (token,)
    assert token not in plan.model.with_available({}).secrets
    assert plan.model.with_available({token: "x"}).secrets[token] == token


def test_lit_secret_of_the_model_is_in_no_file_and_no_output(tmp_path: Path, monkeypatch) -> None:
    value = "sk-model-literal-0123456789"
    config = _config(tmp_path, "generic", f", STANDIN_API_KEY: 'lit:{value}'")
    _, plan, files = load_and_render(config)
    assert not [name for name, text in files.items() if value in text]
    host = plan.model.secrets["STANDIN_API_KEY"]
    assert plan.model.literal_secrets == {host: value}
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--json"]):
        code, out, err = invoke_cli(["up", str(config), "--dry-run", *extra], env={"H10_SHARED": "a", "H10_MODEL": "b"})
        assert code == 0, err
        assert value not in out + err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != config and value.encode() in p.read_bytes()]
    assert written == []


def test_healthcheck_is_a_fixed_shell_text_with_the_url_as_argument(tmp_path: Path) -> None:
    text = _config(tmp_path, "generic").read_text(encoding="utf-8").replace(
        "served_model_name: m", "served_model_name: m\n  endpoints: {health: \"/h'$(touch$IFS)\"}")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    _, _, files = load_and_render(tmp_path / "config.yaml")
    test = yaml.safe_load(files["compose.yaml"])["services"]["model"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "/bin/sh", "-c", HEALTH_PROBE.replace("$", "$$")]
    assert test[-1] == "http://127.0.0.1:8000/h'$$(touch$$IFS)"


# --------------------------------------------------------------------------- the built-in harness

FRAMEWORK = templates_dir() / "images/harness/evalcompose_bench/core_evals/evalcompose_bench/framework.yml"


def test_every_value_in_the_harness_command_is_urlencoded() -> None:
    command = yaml.safe_load(FRAMEWORK.read_text(encoding="utf-8"))["defaults"]["command"]
    placeholders = re.findall(r"\{\{(.*?)\}\}", command)
    assert len(placeholders) >= 15
    assert all(p.strip().endswith("|urlencode") for p in placeholders), placeholders
    assert re.findall(r"--[a-z-]+ \{\{", command) == [], "values are passed as --flag=VALUE"


def _runner():
    sys.path.insert(0, str(FRAMEWORK.parent))
    try:
        import runner  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return runner


@settings(max_examples=50, deadline=None)
@given(model_id=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_urlencoded_value_is_one_shell_word_and_decodes_back(model_id: str) -> None:
    """What Jinja's urlencode makes of a value (quote with safe='/') is one word for bash, holds no
    Jinja markup, and the runner reads the original back."""
    encoded = urllib.parse.quote(model_id, safe="/")
    line = f"evalcompose-bench --task=arithmetic --url=http%3A//x --model-id={encoded} --output-dir=/results"
    words = shlex.split(line)
    assert words[3] == f"--model-id={encoded}" and "{" not in encoded and "'" not in encoded
    args = _runner().parse_args(words[1:])
    assert args.model_id == model_id and args.url == "http://x"

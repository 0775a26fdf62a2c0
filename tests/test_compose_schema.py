"""Every rendered compose.yaml is valid Compose: the Compose Specification JSON schema (vendored in
composer/data/compose-spec.json, offline, about 1 ms each) and, where the Compose CLI is present,
``docker compose config --quiet`` (stronger: dependencies, networks, secrets, env files,
interpolation; needs no daemon)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from composer.layout import ARTIFACTS, COMPOSE_FILE, LOGS
from evalcompose_testlib import REPO, compose_command, load_and_render, write_config
from test_render_golden import CASES, rendered_case

SCHEMA_PATH = REPO / "composer" / "data" / "compose-spec.json"
REAL_HOME = os.environ.get("HOME", "")  # the docker CLI finds its compose plugin under $HOME/.docker


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def all_files(case: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], list[str]]:
    """Every rendered file of a case (entrypoint included) and the host variables it reads."""
    from test_render_golden import GOLDEN, GOLDEN_HOME, _read_lines

    monkeypatch.setenv("HOME", GOLDEN_HOME)
    folder = GOLDEN / case
    environ = dict(line.split("=", 1) for line in _read_lines(folder / "environ.txt"))
    _, plan, files = load_and_render(CASES[case], _read_lines(folder / "overrides.txt"), environ)
    variables = list(plan.host_variables)
    if plan.model:
        variables += list(plan.model.optional)
    return files, variables


# --------------------------------------------------------------------------- the vendored schema


def test_vendored_schema_is_draft_07_compose_spec() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["title"] == "Compose Specification"
    assert "draft-07" in schema["$schema"]
    notice = (REPO / "composer" / "data" / "COMPOSE_SPEC_NOTICE.md").read_text(encoding="utf-8")
    assert "compose-spec/compose-spec" in notice and "Apache" in notice


def test_schema_rejects_what_compose_rejects(validator) -> None:
    """The validator is live: an unknown service key and a bad depends_on condition fail."""
    assert not list(validator.iter_errors({"services": {"a": {"image": "x"}}}))
    assert list(validator.iter_errors({"services": {"a": {"image": "x", "bogus": 1}}}))
    assert list(validator.iter_errors({"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "done"}}}}}))
    assert list(validator.iter_errors({"services": {"a b": {"image": "x"}}}))


# --------------------------------------------------------------------------- schema: every case


@pytest.mark.parametrize("case", list(CASES))
def test_rendered_compose_matches_the_schema(case: str, validator, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load(rendered_case(case, monkeypatch)[COMPOSE_FILE])
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])
    assert doc["x-evalcompose"]["format_version"] >= 1


@pytest.mark.parametrize("case", list(CASES))
def test_compose_text_and_metadata_agree(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load(rendered_case(case, monkeypatch)[COMPOSE_FILE])
    meta = doc["x-evalcompose"]
    assert doc["name"] == f"evalcompose-{meta['invocation_id']}"
    for task in meta["tasks"]:
        svc = doc["services"][task["service"]]
        assert svc["labels"]["evalcompose.job"] == task["job_id"] == f"{meta['invocation_id']}.{task['index']}"
        assert svc["image"] == task["image"]
        assert svc["user"] and all(part.isdigit() for part in str(svc["user"]).split(":"))  # numeric UID:GID
        for dep in (svc.get("depends_on") or {}):
            assert dep in doc["services"], f"{task['service']} depends on unknown {dep}"
        for secret in svc.get("secrets") or []:
            assert secret["source"] in doc["secrets"]


# --------------------------------------------------------------------------- docker compose config


def write_project(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    doc = yaml.safe_load(files[COMPOSE_FILE])
    for task in doc["x-evalcompose"]["tasks"]:
        for sub in (ARTIFACTS, LOGS):
            (folder / task["service"] / sub).mkdir(parents=True, exist_ok=True)
    return folder


def compose_config(folder: Path, variables: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["HOME"] = REAL_HOME
    env.update({name: f"dummy-{name.lower()}" for name in variables})
    return subprocess.run([*compose_command(), "-f", COMPOSE_FILE, "config", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.compose
@pytest.mark.parametrize("case", list(CASES))
def test_docker_compose_config_accepts(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files, variables = all_files(case, monkeypatch)
    folder = write_project(tmp_path / "run", files)
    result = compose_config(folder, variables, "--quiet")
    assert result.returncode == 0, f"docker compose config rejected {case}: {result.stderr.strip()}"


LITERALS = {
    "SPACES": "a b  c",
    "DOLLAR": "cost $5 and $HOME and $(date)",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "BACKSLASH": r"C:\path\n",
    "EQUALS": "a=b",
    "EMPTY": "",
}


def compose_environment(tmp_path: Path, literals: dict[str, str]) -> dict[str, str]:
    """Render a config whose task has these lit: values; what ``docker compose config`` reads back."""
    env_lines = "\n".join(f"    {k}: {json.dumps('lit:' + v)}" for k, v in literals.items())
    config = write_config(tmp_path, f"""\
execution: {{output_dir: out}}
target: {{api_endpoint: {{model_id: m, url: "https://example.invalid/v1/chat/completions"}}}}
evaluation:
  env_vars:
{env_lines}
  tasks: [{{name: lm-evaluation-harness.ifeval}}]
""")
    _, _, files = load_and_render(config)
    folder = write_project(tmp_path / "run", files)
    result = compose_config(folder, [], "--format", "json")
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["services"]["ifeval"]["environment"]
    # `config` output is itself a compose file, so it writes every literal $ as $$
    return {k: (v or "").replace("$$", "$") for k, v in environment.items()}


@pytest.mark.compose
def test_literal_env_values_reach_the_container_unchanged(tmp_path: Path) -> None:
    """lit: values go through task.env; Compose must read back exactly what the config said."""
    environment = compose_environment(tmp_path, LITERALS)
    wrong = {k: (v, environment.get(k)) for k, v in LITERALS.items() if environment.get(k) != v}
    assert not wrong, f"values changed on the way (wanted, got): {wrong}"


@pytest.mark.compose
def test_literal_env_value_with_a_hash_survives(tmp_path: Path) -> None:
    assert compose_environment(tmp_path, {"HASH": "x #not a comment"})["HASH"] == "x #not a comment"

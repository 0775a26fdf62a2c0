"""No secret value is ever written, printed or put in an error message (issue 2, item 5).

Each test plants unique values in every channel a secret arrives by (the API key variable,
HF_TOKEN, a ``host:`` variable, an ``-e NAME`` docker flag, the model's variables, an ``--env-file``
and the default ``./.env``), runs the real CLI, then searches every file under the work folder
(run folders included), the run index (``$EVALCOMPOSE_HOME``), stdout and stderr.
"""

from __future__ import annotations

import json
import secrets as _secrets
from pathlib import Path

import pytest
import yaml

from evalcompose_testlib import invoke_cli, run_cli, write_config


def planted(label: str) -> str:
    return f"PLANTED-{label}-{_secrets.token_hex(12)}"


@pytest.fixture
def values() -> dict[str, str]:
    return {name: planted(name) for name in (
        "API_KEY", "HF_TOKEN", "MY_HOST_VAR", "EXTRA_SECRET", "ENVFILE_TOKEN", "DOTENV_TOKEN", "MODEL_TOKEN",
        "NGC_API_KEY")}


HOSTED = """\
execution:
  output_dir: out
  mode: parallel
  extra_docker_args: -e EXTRA_SECRET
target:
  api_endpoint:
    model_id: org/model
    url: https://example.invalid/v1/chat/completions
    api_key_name: API_KEY
env_vars:
  FROM_ENV_FILE: host:ENVFILE_TOKEN
  FROM_DOTENV: host:DOTENV_TOKEN
evaluation:
  env_vars:
    HF_TOKEN: host:HF_TOKEN
    CUSTOM: MY_HOST_VAR
  tasks:
    - name: ifeval
    - name: simple_evals.mmlu_pro
"""

DEPLOYED = """\
defaults: [{execution: local}, {deployment: nim}, _self_]
execution:
  output_dir: out
deployment:
  image: nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6
  served_model_name: meta/llama-3.1-8b-instruct
  env_vars:
    NGC_API_KEY: host:NGC_API_KEY
    SERVER_TOKEN: host:MODEL_TOKEN
evaluation:
  env_vars:
    HF_TOKEN: host:HF_TOKEN
  tasks:
    - name: lm-evaluation-harness.ifeval
"""


FILE_BORNE = ("ENVFILE_TOKEN", "DOTENV_TOKEN")


def setup_folder(folder: Path, values: dict[str, str], config_text: str,
                 source: str = "env-file") -> tuple[Path, dict[str, str], list[str]]:
    """Config plus an env file in ``folder``: ``--env-file secrets.env`` or the default ``./.env``.

    Returns the config, the shell part of the values (an env dict) and the CLI arguments naming the file.
    """
    config = write_config(folder, config_text)
    body = "".join(f"{name}={values[name]}\n" for name in FILE_BORNE)
    if source == "env-file":
        (folder / "secrets.env").write_text(body, encoding="utf-8")
        args = ["--env-file", "secrets.env"]
    else:
        (folder / ".env").write_text(body, encoding="utf-8")
        args = []
    shell = {k: v for k, v in values.items() if k not in FILE_BORNE}
    return config, shell, args


def leaks(values: dict[str, str], *roots: Path, texts: dict[str, str]) -> list[str]:
    """Where any planted value shows up: files under ``roots`` (the inputs we wrote excepted), texts."""
    inputs = {roots[0] / "secrets.env", roots[0] / ".env", roots[0] / "config.yaml"}
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p not in inputs):
            data = path.read_bytes()
            found += [f"{path} holds {name}" for name, v in values.items() if v.encode() in data]
    for where, text in texts.items():
        found += [f"{where} shows {name}" for name, v in values.items() if v in text]
    return found


def written_files(root: Path) -> list[Path]:
    return [p for p in (root / "out").rglob("*") if p.is_file()]


@pytest.mark.parametrize(("config_text", "source", "json_out"), [
    (HOSTED, "env-file", True), (HOSTED, "dotenv", False), (DEPLOYED, "dotenv", True), (DEPLOYED, "env-file", False),
], ids=["hosted-env-file-json", "hosted-dotenv-text", "deployed-dotenv-json", "deployed-env-file-text"])
def test_dry_run_writes_and_prints_no_secret(tmp_cwd: Path, evalcompose_home: Path, values, config_text: str,
                                              source: str, json_out: bool) -> None:
    config, shell, env_args = setup_folder(tmp_cwd, values, config_text, source)
    args = ["up", config.name, "--dry-run", *(["--json"] if json_out else []), *env_args]
    code, out, err = run_cli(args, env=shell)
    assert code == 0, err
    if json_out:  # every planted variable arrived (so leaving it out is evalcompose's doing)
        assert all(json.loads(out)["host_variables"].values()), out
    else:
        assert "NOT SET" not in out
    files = written_files(tmp_cwd)
    assert any(p.name == "compose.yaml" for p in files) and any(p.name == "run_config.yml" for p in files)
    assert not [p for p in files if p.stat().st_mode & 0o002], "world-writable files in the run folder"
    assert list((evalcompose_home / "runs").glob("*.json")), "the run was not registered"
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})
    # the run folder names what it reads, so the test is not vacuous
    compose_text = next(p for p in files if p.name == "compose.yaml").read_text(encoding="utf-8")
    for name in (["API_KEY", "HF_TOKEN", "MY_HOST_VAR", "EXTRA_SECRET", "ENVFILE_TOKEN"]
                 if config_text is HOSTED else ["NGC_API_KEY", "MODEL_TOKEN", "HF_TOKEN"]):
        assert name in compose_text or any(name in p.read_text(encoding="utf-8") for p in files if p.suffix == ".env")


def test_run_form_writes_and_prints_no_secret(tmp_cwd: Path, evalcompose_home: Path, values) -> None:
    config, shell, env_args = setup_folder(tmp_cwd, values, HOSTED)
    code, out, err = run_cli(["run", "--config-dir", ".", "--config-name", config.stem, "--dry-run", *env_args],
                             env=shell)
    assert code == 0, err
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})


ERROR_CASES = {
    "bad override": (HOSTED, ["-o", "+execution.max_parallel=lots"]),
    "key pasted as api_key_name": (HOSTED, ["-o", "target.api_endpoint.api_key_name={API_KEY}"]),
    "secret interpolation": (HOSTED.replace("model_id: org/model", "model_id: ${{oc.env:API_KEY}}"), []),
    "literal secret in docker args": (HOSTED.replace("-e EXTRA_SECRET", "-e EXTRA_SECRET={EXTRA_SECRET}"), []),
    "stray word in docker args": (HOSTED.replace("-e EXTRA_SECRET", "-e EXTRA_SECRET --gpus all {EXTRA_SECRET}"), []),
    "glued -e in docker args": (HOSTED.replace("-e EXTRA_SECRET", "-eAPI_KEY:{EXTRA_SECRET}"), []),
    "password in the url": (HOSTED.replace("https://example.invalid", "https://user:{API_KEY}@example.invalid"), []),
    "password in nemo_evaluator_config's url": (HOSTED.replace("evaluation:\n", "evaluation:\n  nemo_evaluator_config: "
                                                               "{{target: {{api_endpoint: {{url: 'http://u:{API_KEY}@h/v1'}}}}}}\n"), []),
    "unknown task": (HOSTED.replace("- name: ifeval", "- name: ifevl"), []),
    "unknown key": (HOSTED.replace("mode: parallel", "mdoe: parallel"), []),
}
IN_A_REAL_PROCESS = {"key pasted as api_key_name", "secret interpolation"}  # the others run in-process (fast)


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_do_not_echo_secrets(tmp_cwd: Path, evalcompose_home: Path, values, case: str) -> None:
    text, extra = ERROR_CASES[case]
    config, shell, env_args = setup_folder(tmp_cwd, values, text.format(**values) if "{" in text else text)
    extra = [arg.format(**values) for arg in extra]
    runner = run_cli if case in IN_A_REAL_PROCESS else invoke_cli
    code, out, err = runner(["up", config.name, "--dry-run", *env_args, *extra], env=shell)
    assert code == 2, err
    assert "Traceback" not in err
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})
    assert not (tmp_cwd / "out").exists()


def test_literal_secret_runs_and_is_written_nowhere(tmp_cwd: Path, evalcompose_home: Path, values) -> None:
    """``HF_TOKEN: lit:<value>`` runs (issue 9, class 3): a Compose secret, its value in no file or output."""
    text = HOSTED.replace("host:HF_TOKEN", "lit:{HF_TOKEN}").format(**values)
    config, shell, env_args = setup_folder(tmp_cwd, values, text)
    shell.pop("HF_TOKEN")
    code, out, err = run_cli(["up", config.name, "--dry-run", *env_args], env={**shell, "HF_TOKEN": None})
    assert code == 0, err
    assert "host variable HF_TOKEN: set" in out  # the config's value, handed to compose in memory
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})
    run_dir = next((tmp_cwd / "out").iterdir())
    doc = yaml.safe_load((run_dir / "compose.yaml").read_text(encoding="utf-8"))
    assert doc["secrets"]["HF_TOKEN"] == {"environment": "HF_TOKEN"}
    written = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert "lit:<redacted>" in written or "delivered as a compose secret" in written
    assert "export" in (run_dir / "RERUN.md").read_text(encoding="utf-8")


def test_missing_variable_on_up_names_it_without_values(tmp_cwd: Path, evalcompose_home: Path, values) -> None:
    """A real ``up`` with one variable unset stops before anything starts; the others stay unprinted.

    Without a Docker engine the preflight fails first (exit 3); either way nothing leaks or is written.
    """
    config, shell, env_args = setup_folder(tmp_cwd, values, HOSTED, "dotenv")
    shell.pop("MY_HOST_VAR")
    code, out, err = run_cli(["up", config.name, *env_args], env={**shell, "MY_HOST_VAR": None})
    assert code in (2, 3), err
    if code == 2:
        assert "MY_HOST_VAR" in err and "evaluation.env_vars.CUSTOM" in err
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})
    assert not (tmp_cwd / "out").exists()


def test_literal_key_under_the_api_key_name_is_a_secret_too(tmp_cwd: Path, evalcompose_home: Path, values) -> None:
    """``api_key_name: APIAUTH`` with ``APIAUTH: lit:<key>``: the name does not look secret, the value is one."""
    text = (HOSTED.replace("api_key_name: API_KEY", "api_key_name: APIAUTH")
            .replace("  env_vars:\n    HF_TOKEN", "  env_vars:\n    APIAUTH: lit:{API_KEY}\n    HF_TOKEN").format(**values))
    config, shell, env_args = setup_folder(tmp_cwd, values, text)
    code, out, err = run_cli(["up", config.name, "--dry-run", *env_args], env=shell)
    assert code == 0, err
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})
    doc = yaml.safe_load((next((tmp_cwd / "out").iterdir()) / "compose.yaml").read_text(encoding="utf-8"))
    assert doc["secrets"]["APIAUTH"] == {"environment": "APIAUTH"}

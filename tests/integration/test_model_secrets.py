"""Issue 10, class 1 on a real engine: the model server's secrets are compose secrets.

The stand-in requires ``Authorization: Bearer $STANDIN_API_KEY`` when that variable is set, so the
run only succeeds when the model (through evalcompose-model.sh) and the task (api_key_name) both
got the key. Then no file of the run folder or the state directory, no scheduler log and no
``docker inspect`` of any container of the project holds the value.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml

from .conftest import project_containers

pytestmark = pytest.mark.docker


def _files_holding(root: Path, value: str) -> list[str]:
    needle = value.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _assert_nowhere(ec, info: dict, value: str) -> None:
    assert _files_holding(info["run_dir"], value) == []
    assert _files_holding(ec.home, value) == []
    inspected = json.dumps(project_containers(info["project"]))
    assert info["project"] in inspected and value not in inspected


@pytest.mark.parametrize("form", ["host", "lit"])
def test_model_secret_reaches_the_server_and_no_file_or_inspect(ec, form):
    key = f"sk-h10-{secrets.token_hex(12)}"
    env_value = "host:H10_MODEL_KEY" if form == "host" else f"lit:{key}"
    cfg = ec.config(limit_samples=3, set={"deployment.env_vars.STANDIN_API_KEY": env_value,
                                          "target.api_endpoint.api_key_name": "H10_TASK_KEY"})
    result = ec.cli("up", str(cfg), "-d", "--json", env={"H10_MODEL_KEY": key, "H10_TASK_KEY": key}, expect=0)
    assert key not in result.stdout + result.stderr
    info = json.loads(result.stdout)
    info["run_dir"] = Path(info["run_dir"])
    final = ec.wait_finished(info["invocation_id"], timeout=120)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS", "SUCCESS"], final["jobs"]
    _assert_nowhere(ec, info, key)
    model_env = (info["run_dir"] / "model.env").read_text(encoding="utf-8")
    assert "STANDIN_API_KEY" in model_env and "${" not in model_env


def test_wrong_model_key_fails_the_tasks(ec):
    """The control: with a different key on the task side the stand-in refuses, so the test above is real."""
    cfg = ec.config(limit_samples=2, max_retries=0, tasks=["arithmetic"],
                    set={"deployment.env_vars.STANDIN_API_KEY": "host:H10_MODEL_KEY",
                         "target.api_endpoint.api_key_name": "H10_TASK_KEY"})
    result = ec.cli("up", str(cfg), "-d", "--json", env={"H10_MODEL_KEY": "right", "H10_TASK_KEY": "wrong"}, expect=0)
    inv = json.loads(result.stdout)["invocation_id"]
    final = ec.wait_finished(inv, timeout=120)
    assert [j["state"] for j in final["jobs"]] == ["FAILED"], final["jobs"]


@pytest.mark.parametrize("token", ["", "hf-h10-token-value"])
def test_optional_hf_token_of_a_vllm_deployment(ec, token):
    """deployment: vllm reads HF_TOKEN when set: unset, up still works; set, the server gets it (here the
    stand-in, run under the vllm group with HF_TOKEN as its API key, so the run succeeds only if it arrived)."""
    ec.results.joinpath("ckpt").mkdir()
    command = "STANDIN_API_KEY=\"$HF_TOKEN\" exec python3 /opt/evalcompose/standin.py"
    cfg = ec.config(limit_samples=2, tasks=["arithmetic"],
                    set={"deployment.command": command, "deployment.gpus": "none",
                         "deployment.checkpoint_path": str(ec.results / "ckpt"),
                         "deployment.cache_path": str(ec.results / "hf-cache"),
                         **({"target.api_endpoint.api_key_name": "HF_TOKEN"} if token else {})})
    result = ec.cli("up", str(cfg), "-o", "deployment=vllm", "-d", "--json",
                    env={"HF_TOKEN": token, "NGC_API_KEY": ""}, expect=0)
    info = json.loads(result.stdout)
    info["run_dir"] = Path(info["run_dir"])
    final = ec.wait_finished(info["invocation_id"], timeout=120)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS"], final["jobs"]
    doc = yaml.safe_load((info["run_dir"] / "compose.yaml").read_text(encoding="utf-8"))
    assert ("HF_TOKEN" in doc.get("secrets", {})) == bool(token)
    if token:
        _assert_nowhere(ec, info, token)

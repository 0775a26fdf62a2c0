"""Issue 10, classes 2 and 3 on a real engine: a config value means itself, in every file and shell.

The model id travels config -> compose.yaml / run_config.yml -> nemo-evaluator's command template
(rendered by Jinja, repeatedly, then run by bash) -> the built-in harness -> the request body. A
value built to break each step (a quote, ``$(...)``, ``$VAR``, ``{{ }}``, a leading ``-``) must
reach the model server byte for byte and run nothing on the way.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.docker

HOSTILE_ID = "-m it's $(touch /results/pwned) `touch /results/pwned2` $HOME ${PATH} $$ {{ 7*7 }} {% raw %} \"q\" ; echo"
# OmegaConf reads ${...} in the config itself: the config writes it \${...} (as the launcher's user would)
CONFIG_ID = HOSTILE_ID.replace("${", "\\${")


def test_hostile_model_id_reaches_the_server_verbatim_and_runs_nothing(ec):
    cfg = ec.config(limit_samples=2, tasks=["arithmetic"], request_log=True,
                    set={"deployment.served_model_name": CONFIG_ID})
    info = ec.up_detached(cfg)
    final = ec.wait_finished(info["invocation_id"], timeout=120)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS"], final["jobs"]
    models = {r["model"] for r in ec.requests() if r.get("sha")}
    assert models == {HOSTILE_ID}
    artifacts = info["run_dir"] / "arithmetic" / "artifacts"
    assert not list(artifacts.rglob("pwned*")), "a shell ran part of the model id"
    listed = json.loads(ec.cli("status", info["invocation_id"], "--json", expect=0).stdout)
    assert listed[0]["invocation_id"] == info["invocation_id"]

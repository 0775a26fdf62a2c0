"""The plan of one invocation: order (lanes), networking, model service, env and run configs.
Pure code: fixed id, clock, user and cwd in, the same plan out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from composer.catalog import load_catalog
from composer.config.loader import load_config
from composer.errors import ConfigError
from composer.plan import build_plan, variable_sources
from composer.render import compose_document, render
from evalcompose_testlib import FIXED_CWD, FIXED_ID, FIXED_NOW, FIXED_USER, write_config

CHAT_URL = "https://example.invalid/v1/chat/completions"
FIVE = ["lm-evaluation-harness.ifeval", "simple_evals.mmlu_pro", "simple_evals.gpqa_diamond",
        "bigcode-evaluation-harness.mbpp-chat", "simple_evals.humaneval"]


def config_text(*, tasks=FIVE, url=CHAT_URL, execution: str = "", extra: str = "") -> str:
    task_lines = "\n".join(f"    - name: {t}" for t in tasks)
    return (f"execution:\n  output_dir: out\n{execution}"
            f"target:\n  api_endpoint:\n    model_id: org/model\n    url: {url}\n"
            f"evaluation:\n  tasks:\n{task_lines}\n{extra}")


def make_plan(tmp_path: Path, text: str, overrides=(), **kw):
    loaded = load_config(write_config(tmp_path, text), list(overrides), {})
    args = dict(invocation_id=FIXED_ID, now=FIXED_NOW, user=FIXED_USER, cwd=FIXED_CWD)
    args.update(kw)
    return build_plan(loaded, load_catalog(), **args)


# --------------------------------------------------------------------------- order


def test_max_parallel_two_makes_two_lanes(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  mode: parallel\n  max_parallel: 2\n"))
    services = [t.service for t in plan.tasks]
    assert [t.after for t in plan.tasks] == [None, None, services[0], services[1], services[2]]
    assert plan.max_parallel == 2
    doc = compose_document(plan)
    dep = doc["services"][services[2]]["depends_on"][services[0]]
    assert dep == {"condition": "service_completed_successfully", "required": False}
    assert doc["x-evalcompose"]["max_parallel"] == 2


def test_sequential_is_one_lane(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  mode: sequential\n"))
    services = [t.service for t in plan.tasks]
    assert [t.after for t in plan.tasks] == [None, *services[:-1]]
    assert plan.max_parallel == 1


def test_sequential_wins_over_max_parallel(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  mode: sequential\n  max_parallel: 3\n"))
    assert plan.max_parallel == 1


def test_parallel_without_cap_has_no_order(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  mode: parallel\n"))
    assert [t.after for t in plan.tasks] == [None] * 5
    assert plan.max_parallel is None
    assert all("depends_on" not in svc for svc in compose_document(plan)["services"].values())


def test_more_lanes_than_tasks(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  mode: parallel\n  max_parallel: 10\n"))
    assert [t.after for t in plan.tasks] == [None] * 5


def test_lanes_never_form_a_cycle(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  mode: parallel\n  max_parallel: 2\n"))
    index = {t.service: t.index for t in plan.tasks}
    assert all(index[t.after] < t.index for t in plan.tasks if t.after)


# --------------------------------------------------------------------------- identity and names


def test_job_ids_labels_and_run_dir(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text())
    assert [t.job_id for t in plan.tasks] == [f"{FIXED_ID}.{i}" for i in range(5)]
    assert plan.project == f"evalcompose-{FIXED_ID}"
    assert plan.run_dir == FIXED_CWD / "out" / f"20250102_030405-{FIXED_ID}"
    svc = compose_document(plan)["services"][plan.tasks[3].service]
    assert svc["labels"]["evalcompose.job"] == f"{FIXED_ID}.3"
    assert svc["labels"]["evalcompose.invocation"] == FIXED_ID
    assert svc["labels"]["evalcompose.task"] == "bigcode-evaluation-harness.mbpp-chat"
    assert svc["user"] == FIXED_USER


def test_absolute_output_dir(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(), ["execution.output_dir=/srv/results"])
    assert plan.run_dir == Path(f"/srv/results/20250102_030405-{FIXED_ID}")


def test_duplicate_tasks_get_distinct_services(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(tasks=["lm-evaluation-harness.ifeval"] * 3))
    assert [t.service for t in plan.tasks] == ["ifeval", "ifeval-2", "ifeval-3"]


def test_service_names_are_compose_safe(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(tasks=FIVE))
    import re

    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", t.service) for t in plan.tasks)


def test_execution_user_overrides_the_callers(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(execution="  user: '4242:4242'\n"))
    assert plan.user == "4242:4242"


def test_same_inputs_same_files(tmp_path: Path) -> None:
    a = render(make_plan(tmp_path, config_text(execution="  max_parallel: 2\n  mode: parallel\n")))
    b = render(make_plan(tmp_path, config_text(execution="  max_parallel: 2\n  mode: parallel\n")))
    assert a == b


def test_clock_and_id_are_the_only_moving_parts(tmp_path: Path) -> None:
    a = render(make_plan(tmp_path, config_text()))
    b = render(make_plan(tmp_path, config_text(), invocation_id="fedcba9876543210", now=datetime(2030, 6, 7, 8, 9, 10)))
    assert a.keys() == b.keys()
    for name in a:
        normalized = b[name].replace("fedcba9876543210", FIXED_ID).replace("2030-06-07T08:09:10", "2025-01-02T03:04:05")
        assert normalized == a[name], name


# --------------------------------------------------------------------------- networking


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"])
def test_loopback_target_uses_host_networking(tmp_path: Path, host: str) -> None:
    plan = make_plan(tmp_path, config_text(url=f"http://{host}:8000/v1/chat/completions"))
    assert plan.network_mode == "host"
    assert any("host networking" in n for n in plan.notes)
    assert all(svc["network_mode"] == "host" for svc in compose_document(plan)["services"].values())


def test_remote_target_uses_the_project_network(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text())
    assert plan.network_mode is None and plan.external_network is None
    assert not any("network" in svc for svc in compose_document(plan)["services"].values())


def test_external_network(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(url="http://my-phi:8000/v1/chat/completions",
                                           execution="  extra_docker_args: --network my-custom-network\n"))
    doc = compose_document(plan)
    assert doc["networks"]["external"] == {"external": True, "name": "my-custom-network"}
    assert all(svc["networks"] == ["default", "external"] for svc in doc["services"].values())


def test_deployment_none_needs_a_url(tmp_path: Path) -> None:
    text = config_text().replace(f"    url: {CHAT_URL}\n", "")
    with pytest.raises(ConfigError) as err:
        make_plan(tmp_path, text)
    assert err.value.key == "target.api_endpoint.url"


# --------------------------------------------------------------------------- co-deployed model

GENERIC = ("defaults: [{execution: local}, {deployment: generic}, _self_]\n"
           "deployment:\n  image: my/server:1\n  command: serve --port 8000\n  served_model_name: served\n")


def test_model_service_is_shared_and_awaited(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, GENERIC + config_text(tasks=FIVE[:2]))
    assert plan.model is not None and plan.model.kind == "generic"
    assert any("replaced by the co-deployed model" in n for n in plan.notes)
    doc = compose_document(plan)
    assert list(doc["services"])[0] == "model"
    for task in plan.tasks:
        api = task.run_config["target"]["api_endpoint"]
        assert api["url"] == "http://model:8000/v1/chat/completions"
        assert api["model_id"] == "served"
        assert doc["services"][task.service]["depends_on"]["model"] == {"condition": "service_healthy"}
    model = doc["services"]["model"]
    assert model["healthcheck"]["start_period"] == "600s"
    assert "ports" not in model  # no host port unless publish_port


def test_model_publish_port_and_readiness(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, GENERIC + config_text(tasks=FIVE[:1], execution="  endpoint_readiness_timeout: 42\n"),
                     ["+deployment.publish_port=18000"])
    model = compose_document(plan)["services"]["model"]
    assert model["ports"] == ["127.0.0.1:18000:8000"]
    assert model["healthcheck"]["start_period"] == "42s"


def test_model_with_host_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_plan(tmp_path, GENERIC + config_text(execution="  extra_docker_args: --network host\n"))
    assert err.value.key == "execution.extra_docker_args"


def test_model_endpoint_type_picks_the_variant(tmp_path: Path) -> None:
    text = GENERIC + config_text(tasks=["ifeval"]).replace("    url:", "    type: chat\n    url:")
    plan = make_plan(tmp_path, text)
    assert plan.tasks[0].task == "lm-evaluation-harness.ifeval"


@pytest.mark.parametrize("key", ["image", "command", "served_model_name"])
def test_model_needs_its_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_plan(tmp_path, GENERIC + config_text(tasks=FIVE[:1]), [f"deployment.{key}=null"])
    assert err.value.key == f"deployment.{key}"


def test_checkpoint_is_mounted_read_only(tmp_path: Path) -> None:
    text = ("defaults: [{execution: local}, {deployment: vllm}, _self_]\n"
            "deployment:\n  checkpoint_path: /models/llama\n  served_model_name: llama\n") + config_text(tasks=FIVE[:1])
    plan = make_plan(tmp_path, text)
    assert ("/models/llama", "/checkpoint", True) in plan.model.volumes
    assert plan.model.gpus == "8"  # tensor * pipeline * data parallel sizes of the shipped vllm group
    assert plan.model.ipc_host


# --------------------------------------------------------------------------- run config and env


def test_run_config_is_what_nemo_evaluator_reads(tmp_path: Path) -> None:
    text = config_text(tasks=["lm-evaluation-harness.ifeval"]).replace(
        "    url:", "    api_key_name: API_KEY\n    adapter_config: {use_reasoning: true}\n    url:")
    text += ("  nemo_evaluator_config:\n    config: {params: {parallelism: 4, limit_samples: 10}}\n"
             "    target: {api_endpoint: {adapter_config: {use_system_prompt: true}}}\n")
    task = make_plan(tmp_path, text).tasks[0]
    rc = task.run_config
    assert rc["config"]["type"] == "ifeval"
    assert rc["config"]["output_dir"] == "/results"
    assert rc["config"]["params"] == {"parallelism": 4, "limit_samples": 10}
    api = rc["target"]["api_endpoint"]
    assert (api["model_id"], api["url"], api["type"], api["api_key_name"]) == ("org/model", CHAT_URL, "chat", "API_KEY")
    assert api["adapter_config"] == {"use_reasoning": True, "use_system_prompt": True}
    assert any(m.target == "/results" and m.source == "ifeval/artifacts" for m in task.mounts)


def test_task_params_win_over_evaluation_params(tmp_path: Path) -> None:
    text = ("execution: {output_dir: out}\n"
            f"target: {{api_endpoint: {{model_id: m, url: '{CHAT_URL}'}}}}\n"
            "evaluation:\n  nemo_evaluator_config: {config: {params: {parallelism: 4, temperature: 0.0}}}\n"
            "  tasks:\n    - name: simple_evals.mmlu_pro\n"
            "      nemo_evaluator_config: {config: {params: {temperature: 0.6}}}\n")
    params = make_plan(tmp_path, text).tasks[0].run_config["config"]["params"]
    assert params == {"parallelism": 4, "temperature": 0.6}


def test_telemetry_is_off_unless_opted_in(tmp_path: Path) -> None:
    off = make_plan(tmp_path, config_text(tasks=FIVE[:1])).tasks[0]
    assert off.env["NEMO_EVALUATOR_TELEMETRY_LEVEL"] == "0"
    on = make_plan(tmp_path, config_text(tasks=FIVE[:1], execution="  telemetry: true\n")).tasks[0]
    assert "NEMO_EVALUATOR_TELEMETRY_LEVEL" not in on.env


def test_env_scopes_and_secrets(tmp_path: Path) -> None:
    text = config_text(tasks=["lm-evaluation-harness.ifeval"]).replace(
        "    url:", "    api_key_name: API_KEY\n    url:")
    text = text.replace("evaluation:\n", "evaluation:\n  env_vars: {SHARED: lit:s, HF_TOKEN: host:MY_HF}\n")
    text += "env_vars: {TOP: lit:top, OVER: lit:top}\n"
    text = text.replace("    - name: lm-evaluation-harness.ifeval",
                        "    - name: lm-evaluation-harness.ifeval\n      env_vars: {OVER: lit:task, RT: runtime:RT_HOST}")
    plan = make_plan(tmp_path, text)
    task = plan.tasks[0]
    assert {k: task.env[k] for k in ("SHARED", "TOP", "OVER")} == {"SHARED": "s", "TOP": "top", "OVER": "task"}
    assert task.secrets == {"API_KEY": "API_KEY", "HF_TOKEN": "MY_HF", "RT": "RT_HOST"}
    assert plan.host_variables == ["API_KEY", "MY_HF", "RT_HOST"]
    assert set(task.env["EVALCOMPOSE_SECRETS"].split()) == {"API_KEY", "HF_TOKEN", "RT"}
    sources = variable_sources(load_config(Path(tmp_path / "config.yaml"), [], {}).config)
    assert sources["API_KEY"] == "target.api_endpoint.api_key_name"
    assert sources["MY_HF"] == "evaluation.env_vars.HF_TOKEN"
    assert sources["RT_HOST"] == "evaluation.tasks[0].env_vars.RT"


def test_lit_secret_is_a_compose_secret_with_its_value_in_memory(tmp_path: Path) -> None:
    text = config_text(tasks=FIVE[:1]).replace("evaluation:\n", "evaluation:\n  env_vars: {HF_TOKEN: 'lit:hf_abc'}\n")
    plan = make_plan(tmp_path, text)
    assert plan.tasks[0].secrets["HF_TOKEN"] == "HF_TOKEN" and "HF_TOKEN" not in plan.tasks[0].env
    assert plan.secret_values == {"HF_TOKEN": "hf_abc"}
    assert "hf_abc" not in repr(plan) and "hf_abc" not in str(plan.config)


def test_dataset_dir_is_mounted(tmp_path: Path) -> None:
    text = config_text(tasks=["lm-evaluation-harness.ifeval"]).replace(
        "    - name: lm-evaluation-harness.ifeval",
        "    - name: lm-evaluation-harness.ifeval\n      dataset_dir: /data/sets\n      dataset_mount_path: /ds")
    task = make_plan(tmp_path, text).tasks[0]
    assert any(m.source == "/data/sets" and m.target == "/ds" and m.read_only for m in task.mounts)


def test_relative_paths_resolve_against_the_given_cwd(tmp_path: Path) -> None:
    text = config_text(tasks=FIVE[:1], execution="  extra_docker_args: -v ./data:/data\n")
    task = make_plan(tmp_path, text).tasks[0]
    assert any(m.source == str(FIXED_CWD / "data") for m in task.mounts)


def test_model_bare_shared_name_prefers_chat(tmp_path: Path) -> None:
    """A co-deployed server serves every endpoint type: a bare shared name picks chat, and says so."""
    plan = make_plan(tmp_path, GENERIC + config_text(tasks=["ifeval", "mbpp"]))
    assert [t.task for t in plan.tasks] == ["lm-evaluation-harness.ifeval", "bigcode-evaluation-harness.mbpp-chat"]
    assert any("'ifeval' is lm-evaluation-harness.ifeval" in n for n in plan.notes)


def test_named_volume_from_docker_args_stays_a_volume(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, config_text(tasks=FIVE[:1], execution="  extra_docker_args: -v eval-cache:/cache\n"))
    doc = compose_document(plan)
    assert "eval-cache:/cache" in doc["services"][plan.tasks[0].service]["volumes"]
    assert "eval-cache" in doc.get("volumes", {})


def test_execution_mounts_evaluation_reach_every_task(tmp_path):
    plan = make_plan(tmp_path, config_text(execution="  mounts:\n    evaluation:\n      ./hf_cache: /root/.cache/huggingface\n"
                                                      "      ~/data: /data:ro\n"), home=Path("/home/u"))
    for task in plan.tasks:
        extra = [m for m in task.mounts if m.target in ("/root/.cache/huggingface", "/data")]
        assert [(m.source, m.target, m.read_only, m.volume) for m in extra] == [
            (str(FIXED_CWD / "hf_cache"), "/root/.cache/huggingface", False, False),
            ("/home/u/data", "/data", True, False)]
    svc = compose_document(plan)["services"][plan.tasks[0].service]
    assert f"{FIXED_CWD / 'hf_cache'}:/root/.cache/huggingface" in svc["volumes"] and "/home/u/data:/data:ro" in svc["volumes"]


def test_slurm_only_mount_keys_are_rejected_by_name(tmp_path):
    with pytest.raises(ConfigError, match="execution.mounts.mount_home"):
        make_plan(tmp_path, config_text(execution="  mounts:\n    mount_home: true\n"))

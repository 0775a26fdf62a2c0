"""Issue 12 #2/#3 on real engines: one run spread over this machine's engine and a second one
(``second_engine``: its own network and mount namespaces, no images, no view of the run folder),
in the ``unix://`` and the ``ssh://`` form; results all land in the local run folder; ``down``
leaves nothing of the project on either engine; an engine that dies mid-run marks its tasks
UNREACHABLE and ``resume`` finishes them on the engine that is left.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from .conftest import SecondEngine, docker, project_containers, wait_for

pytestmark = pytest.mark.docker


def _tasks(samples: list[int]) -> list[dict]:
    return [{"name": "arithmetic", "nemo_evaluator_config": {"config": {"params": {"limit_samples": n}}}}
            for n in samples]


def _leftovers(project: str, run) -> dict[str, list[str]]:
    """The project's containers, volumes and networks on an engine (``run``: a docker callable)."""
    out = {}
    for kind in ("ps -a", "volume ls", "network ls"):
        args = [*kind.split(), "-q", "--filter", f"label=com.docker.compose.project={project}"]
        out[kind] = run(*args).stdout.split()
    return out


def _engines_of(status: dict) -> dict[str, str]:
    return {j["service"]: j["engine"] for j in status["jobs"]}


def test_run_over_two_engines_unix_form_results_here_and_down_cleans_both(ec, second_engine: SecondEngine):
    # the stand-in demands the key the tasks get as a compose secret: a task that runs there had it
    key = f"planted-{secrets.token_hex(8)}"
    ec.env["EC_TEST_KEY"] = key
    cfg = ec.config(tasks=_tasks([3, 3, 3, 3]), parallelism=2, max_parallel=1,
                    set={"execution.hosts": ["default", second_engine.unix_url],
                         "target.api_endpoint.api_key_name": "EC_TEST_KEY",
                         "deployment.env_vars.STANDIN_API_KEY": "host:EC_TEST_KEY"})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    final = ec.wait_finished(inv, timeout=300)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS"] * 4, final["jobs"]
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert not leaked, f"the secret value is in {leaked}"
    engines = _engines_of(final)
    assert len(set(engines.values())) == 2, f"both engines get tasks: {engines}"
    for service in engines:
        assert (run_dir / service / "artifacts" / "results.yml").is_file(), f"{service}: results not copied back"
        assert (run_dir / service / "logs" / "stdout.log").stat().st_size > 0
    # the second engine ran its tasks with no bind mount of this machine's run folder
    node_tasks = [c for c in json.loads(second_engine.docker("inspect", *second_engine.docker(
        "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()).stdout)
        if c["Config"]["Labels"].get("evalcompose.role") == "task"]
    assert node_tasks and all(m["Type"] != "bind" for c in node_tasks for m in c["Mounts"])
    assert all(key not in json.dumps(c["Config"]) for c in node_tasks), "a task's secret in docker inspect"
    assert all(str(run_dir) not in json.dumps(c["Mounts"]) for c in node_tasks)
    # the run folder keeps one compose file per engine, each runnable with plain docker compose
    assert len(list(run_dir.glob("compose.*.yaml"))) == 2
    assert second_engine.unix_url in (run_dir / "RERUN.md").read_text(encoding="utf-8")

    ec.cli("down", inv, expect=0, timeout=300)
    assert all(not v for v in _leftovers(project, lambda *a: docker(*a)).values())
    assert all(not v for v in _leftovers(project, lambda *a: second_engine.docker(*a)).values())


def test_run_over_ssh_form(ec, second_engine: SecondEngine):
    env = second_engine.env(ec.env)
    cfg = ec.config(tasks=_tasks([2, 2]), parallelism=2, set={"execution.hosts": [second_engine.ssh_url]})
    result = ec.cli("up", str(cfg), "-d", "--json", env=env, expect=0, timeout=600)
    info = json.loads(result.stdout)
    inv, project = info["invocation_id"], info["project"]

    def finished():
        st = json.loads(ec.cli("status", inv, "--json", env=env, expect=0).stdout)[0]
        return st if all(j["state"] in ("SUCCESS", "FAILED", "KILLED") for j in st["jobs"]) else None

    st = wait_for(finished, 300, interval=2, what="the ssh:// run to finish")
    assert [j["state"] for j in st["jobs"]] == ["SUCCESS", "SUCCESS"], st["jobs"]
    for job in st["jobs"]:
        assert (Path(info["run_dir"]) / job["service"] / "artifacts" / "results.yml").is_file()
    assert not _leftovers(project, lambda *a: docker(*a))["ps -a"], "nothing of it ran on this machine's engine"
    ec.cli("down", inv, env=env, expect=0, timeout=300)
    assert all(not v for v in _leftovers(project, lambda *a: second_engine.docker(*a)).values())


def test_second_engine_dies_mid_run_and_resume_finishes_on_the_other(ec, second_engine: SecondEngine):
    # task 0 short on the default engine, task 1 long on the second one (round robin)
    cfg = ec.config(tasks=_tasks([2, 60]), parallelism=1, standin={"STANDIN_LATENCY_MS": 300},
                    set={"execution.hosts": ["default", second_engine.unix_url]})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    short, long_ = (t["service"] for t in info["tasks"])
    try:
        ec.wait_status(inv, lambda s: _engines_of(s)[long_] != _engines_of(s)[short]
                       and {j["service"]: j["state"] for j in s["jobs"]}[long_] == "RUNNING", 180,
                       "the long task running on the second engine")
        second_engine.crash()
        st = ec.wait_status(inv, lambda s: {j["service"]: j["state"] for j in s["jobs"]}[long_] == "UNREACHABLE", 60,
                            "the dead engine's task to read UNREACHABLE")
        assert "does not answer" in next(j["detail"] for j in st["jobs"] if j["service"] == long_)
        ec.wait_status(inv, lambda s: {j["service"]: j["state"] for j in s["jobs"]}[short] == "SUCCESS", 180,
                       "the short task to finish")
        ec.cli("resume", inv, expect=0, timeout=300)
        final = ec.wait_finished(inv, timeout=300)
        assert [j["state"] for j in final["jobs"]] == ["SUCCESS", "SUCCESS"], [(j["state"], j.get("detail")) for j in final["jobs"]]
        assert len(set(_engines_of(final).values())) == 1, "the moved task ran on the engine that answers"
        assert (run_dir / long_ / "artifacts" / "results.yml").is_file()
        assert project_containers(project), "the moved task ran on this machine's engine"
        ec.cli("down", inv, timeout=300)  # the dead engine is named in its message; this engine is cleaned
        assert all(not v for v in _leftovers(project, lambda *a: docker(*a)).values())
    finally:
        second_engine.up()  # back for later tests (a fresh daemon over the same data root)

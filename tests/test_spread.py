"""A run spread over several engines (issue 12 #2), the pure parts: hosts config, names,
placement, and each engine's compose document (no bind mount of the run folder, inputs as
configs, results in volumes, its own model and slots), through the real CLI's dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from evalcompose_testlib import run_cli, write_config
from hypothesis import given
from hypothesis import strategies as st
from test_secrets import DEPLOYED, HOSTED, leaks, setup_folder
from test_secrets import values as values  # noqa: F401  (a fixture: imported so pytest finds it)

from composer.spread import HostSpec, assign, engine_slug, host_specs

NODE = "unix:///run/ec-node-1/docker.sock"
QUICK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"


def _specs(*weights: int | None) -> tuple[HostSpec, ...]:
    return tuple(HostSpec(f"e{i}", f"ctx{i}", w) for i, w in enumerate(weights))


def test_round_robin_in_config_order() -> None:
    placed = assign([f"t{i}" for i in range(5)], _specs(None, None), None)
    assert placed == {"e0": ["t0", "t2", "t4"], "e1": ["t1", "t3"]}


def test_placement_follows_per_host_max_parallel() -> None:
    placed = assign([f"t{i}" for i in range(9)], _specs(2, 1), None)
    assert [len(placed["e0"]), len(placed["e1"])] == [6, 3]


@given(st.lists(st.integers(1, 8), min_size=1, max_size=5), st.integers(0, 40))
def test_placement_places_every_task_once_and_in_order(weights, n) -> None:
    services = [f"t{i}" for i in range(n)]
    placed = assign(services, _specs(*weights), None)
    flat = [s for group in placed.values() for s in group]
    assert sorted(flat) == sorted(services)
    assert all(group == sorted(group, key=services.index) for group in placed.values())
    # weighted: no engine got a task while another's load (tasks per slot) with it would have been lower
    specs = _specs(*weights)
    for a in specs:
        for b in specs:
            assert len(placed[a.name]) / a.max_parallel <= (len(placed[b.name]) + 1) / b.max_parallel


def test_engine_names_are_file_safe_and_unique() -> None:
    assert engine_slug("default") == "default"
    assert engine_slug("ssh://root@gpu-box.lan:2222") == "ssh-gpu-box.lan"
    assert engine_slug(NODE) == "unix-ec-node-1"
    names = [s.name for s in host_specs(["ssh://a@h", "ssh://b@h", "tcp://h:2376"])]
    assert len(set(names)) == 3


def _spread_dry_run(tmp_path: Path, *hosts: str, extra: list[str] = ()) -> tuple[Path, dict]:
    text = QUICK.read_text(encoding="utf-8").replace("output_dir: results/quickstart",
                                                     "output_dir: out\n  max_parallel: 1")
    config = write_config(tmp_path, text)
    args = ["up", config.name, "--dry-run", "--json", *[a for h in hosts for a in ("--host", h)], *extra]
    code, out, err = run_cli(args, cwd=tmp_path, env={"EVALCOMPOSE_HOME": str(tmp_path / "home")})
    assert code == 0, err
    info = json.loads(out)
    return Path(info["run_dir"]), info


def test_each_engine_gets_a_complete_project_without_the_run_folder(tmp_path: Path) -> None:
    run_dir, info = _spread_dry_run(tmp_path, "default", NODE)
    meta = yaml.safe_load((run_dir / "compose.yaml").read_text(encoding="utf-8"))["x-evalcompose"]
    assert [e["engine"] for e in meta["engines"]] == ["default", NODE]
    placed = {}
    for engine in meta["engines"]:
        doc = yaml.safe_load((run_dir / engine["file"]).read_text(encoding="utf-8"))
        tasks = [n for n, s in doc["services"].items() if s["labels"]["evalcompose.role"] == "task"]
        placed[engine["name"]] = tasks
        assert doc["name"] == info["project"]
        assert "model" in doc["services"], "each engine runs its own model service"
        assert not [v for v in doc["services"]["model"].get("volumes", []) if v.startswith("./")], \
            "the model's run-folder files go as configs too"
        for name in tasks:
            svc = doc["services"][name]
            assert not [v for v in svc["volumes"] if v.startswith(("./", "/"))], "no bind mount of this machine"
            assert f"{name}-artifacts:/results" in svc["volumes"]
            targets = {c["target"] for c in svc["configs"]}
            assert {"/evalcompose/run_config.yml", "/evalcompose/task.sh"} <= targets
            assert svc["depends_on"]["model"] == {"condition": "service_healthy"}
        # the inputs are the run folder's files, verbatim ($ escaped for compose)
        config_key = next(c["source"] for c in doc["services"][tasks[0]]["configs"]
                          if c["target"] == "/evalcompose/task.sh")
        entrypoint = (run_dir / "evalcompose-task.sh").read_text(encoding="utf-8")
        assert doc["configs"][config_key]["content"].replace("$$", "$") == entrypoint
    assert sorted(s for group in placed.values() for s in group) == sorted(t["service"] for t in info["tasks"])
    assert all(placed.values()), placed
    rerun = (run_dir / "RERUN.md").read_text(encoding="utf-8")
    assert f"docker -H {NODE} compose -f compose.unix-ec-node-1.yaml up" in rerun


def test_slots_are_per_engine(tmp_path: Path) -> None:
    run_dir, _ = _spread_dry_run(tmp_path, "default")  # max_parallel 1, both tasks on one engine
    doc = yaml.safe_load((run_dir / "compose.default.yaml").read_text(encoding="utf-8"))
    tasks = [s for s in doc["services"].values() if s["labels"]["evalcompose.role"] == "task"]
    assert [t["environment"]["EVALCOMPOSE_TICKET"] for t in tasks] == ["0", "1"]
    assert "slots" in doc["volumes"]


@pytest.mark.parametrize("hosts", [["http://x"], ["default", "default"], ["-bad"]])
def test_bad_hosts_are_one_clear_line(tmp_path: Path, hosts: list[str]) -> None:
    text = QUICK.read_text(encoding="utf-8").replace("output_dir: results/quickstart", "output_dir: out")
    config = write_config(tmp_path, text)
    code, out, err = run_cli(["up", config.name, "--dry-run", *[a for h in hosts for a in ("--host", h)]],
                             cwd=tmp_path, env={"EVALCOMPOSE_HOME": str(tmp_path / "home")})
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and ("--host" in err or "execution.hosts" in err) and "Traceback" not in err
    assert not (tmp_path / "out").exists(), "nothing written"


def test_hosts_in_the_config(tmp_path: Path) -> None:
    text = QUICK.read_text(encoding="utf-8").replace(
        "output_dir: results/quickstart", f"output_dir: out\n  hosts: [default, {{host: '{NODE}', max_parallel: 3}}]")
    config = write_config(tmp_path, text)
    code, out, err = run_cli(["up", config.name, "--dry-run", "--json"], cwd=tmp_path,
                             env={"EVALCOMPOSE_HOME": str(tmp_path / "home")})
    assert code == 0, err
    meta = yaml.safe_load((Path(json.loads(out)["run_dir"]) / "compose.yaml").read_text())["x-evalcompose"]
    assert meta["engines"][1]["max_parallel"] == 3


@pytest.mark.parametrize("config_text", [HOSTED, DEPLOYED], ids=["hosted", "deployed"])
def test_spread_run_folder_holds_no_secret(tmp_cwd: Path, evalcompose_home: Path, values,  # noqa: F811
                                          config_text) -> None:
    config, shell, env_args = setup_folder(tmp_cwd, values, config_text)
    code, out, err = run_cli(["up", config.name, "--dry-run", "--host", "default", "--host", NODE, *env_args],
                             env=shell)
    assert code == 0, err
    assert list((tmp_cwd / "out").rglob("compose.unix-ec-node-1.yaml"))
    assert not leaks(values, tmp_cwd, evalcompose_home, texts={"stdout": out, "stderr": err})

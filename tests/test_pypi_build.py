"""Harness images built from PyPI (``build: true``) instead of pulled from nvcr.io (issue 5, item 4).

Fast, no network, no daemon: the compose ``build:`` block a built task gets, the Dockerfile in the
run folder, the config errors, the image tag, the wheelhouse links of a dry run (a pre-filled fake
wheel cache), and ``docker compose config`` accepting the project (marker ``compose``).

Slow (marker ``docker``, about 1-1.5 min here): a REAL ``evalcompose up --dry-run`` of
examples/built_harness.yaml (wheels from PyPI into the cache, ~15 s the first time), then plain
``docker compose build --no-cache`` in the run folder (~35-60 s), then ``nemo-evaluator ls`` in the
built image lists exactly the catalog's simple_evals tasks. The benchmarks themselves need Hugging
Face data, which is not reachable here: no score is run or faked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from composer.errors import ConfigError
from composer.images import (NEMO_EVALUATOR_REQUIREMENT, WHEELHOUSE_MARKER, harness_build, link_wheelhouse,
                             pypi_dockerfile, pypi_version, wheelhouse_cache_folder)
from evalcompose_testlib import REPO, compose_command, load_and_render, run_cli, write_config

EXAMPLE = REPO / "examples" / "built_harness.yaml"
CATALOG = json.loads((REPO / "composer" / "data" / "catalog.json").read_text(encoding="utf-8"))
TAG = "evalcompose/harness-simple_evals:26.3"
# A Docker image reference: repository path components and a tag (distribution/reference grammar).
REFERENCE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                       r":[\w][\w.-]{0,127}$")

HEAD = """
defaults:
  - execution: local
  - deployment: none
  - _self_
execution:
  output_dir: out
target:
  api_endpoint:
    model_id: m
    url: https://example.invalid/v1/chat/completions
    api_key_name: null
"""


def config(tmp_path: Path, evaluation: str) -> Path:
    return write_config(tmp_path, HEAD + textwrap.dedent(evaluation))


def compose_doc(files: dict[str, str]) -> dict:
    return yaml.safe_load(files["compose.yaml"])


# --------------------------------------------------------------------------- render


def test_example_renders_one_build_per_image() -> None:
    _, plan, files = load_and_render(EXAMPLE)
    services = compose_doc(files)["services"]
    first, second = services["mgsm"], services["gpqa_diamond"]
    assert first["image"] == second["image"] == TAG
    assert first["build"] == {
        "context": "./build/simple_evals/wheelhouse",
        "dockerfile": "../Dockerfile",
        "args": {"BASE_IMAGE": "${EVALCOMPOSE_BASE_IMAGE:-python:3.11-slim}",
                 "NEMO_EVALUATOR_REQUIREMENT": NEMO_EVALUATOR_REQUIREMENT,
                 "HARNESS_REQUIREMENT": "nvidia-simple-evals==26.3"}}
    assert "build" not in second  # compose builds the image once; the second service uses it
    assert first["pull_policy"] == second["pull_policy"] == "never"  # never looked up in a registry
    assert files["build/simple_evals/Dockerfile"] == pypi_dockerfile()
    assert "Built here from PyPI, not pulled (build: true): " + TAG in files["compose.yaml"]
    assert [t.build for t in plan.tasks] == [True, True]
    assert {t["image"] for t in compose_doc(files)["x-evalcompose"]["tasks"]} == {TAG}


def test_task_level_build_only_builds_that_task(tmp_path: Path) -> None:
    path = config(tmp_path, """
    evaluation:
      tasks:
        - name: simple_evals.mgsm
        - name: bigcode-evaluation-harness.mbpp-chat
          build: true
        - name: arithmetic
          build: true
    """)
    _, plan, files = load_and_render(path)
    services = compose_doc(files)["services"]
    assert services["mgsm"]["image"] == "nvcr.io/nvidia/eval-factory/simple-evals:26.03"
    assert "build" not in services["mgsm"]
    assert services["mbpp-chat"]["image"] == "evalcompose/harness-bigcode-evaluation-harness:26.3"
    assert services["mbpp-chat"]["build"]["args"]["HARNESS_REQUIREMENT"] == "nvidia-bigcode-eval==26.3"
    assert services["mbpp-chat"]["build"]["context"] == "./build/bigcode-evaluation-harness/wheelhouse"
    # the built-in harness is always built locally: build: true changes nothing for it
    assert services["arithmetic"]["image"] == "evalcompose/harness-builtin:0.2" and "build" not in services["arithmetic"]
    assert sorted(f for f in files if f.startswith("build/")) == ["build/bigcode-evaluation-harness/Dockerfile"]


def test_base_image_default_is_what_the_caller_picked(tmp_path: Path) -> None:
    from composer.render import render

    _, plan, _ = load_and_render(EXAMPLE)
    files = render(plan, build_base="evalcompose/base-python:bookworm")
    args = compose_doc(files)["services"]["mgsm"]["build"]["args"]
    assert args["BASE_IMAGE"] == "${EVALCOMPOSE_BASE_IMAGE:-evalcompose/base-python:bookworm}"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("evaluation", "inherited"), [
    ("evaluation:\n  tasks:\n    - name: simple_evals.mgsm\n    - name: helm.medcalc_bench\n      build: true\n", False),
    ("evaluation:\n  build: true\n  tasks:\n    - name: simple_evals.mgsm\n    - name: helm.medcalc_bench\n", True),
])
def test_harness_without_pypi_package_is_a_config_error(tmp_path: Path, evaluation: str, inherited: bool) -> None:
    assert CATALOG["harnesses"]["helm"]["pypi_package"] is None
    path = config(tmp_path, evaluation)
    with pytest.raises(ConfigError) as err:
        load_and_render(path)
    assert err.value.key == "evaluation.tasks[1].build"
    assert "harness helm" in err.value.message and "no PyPI package" in err.value.message
    assert ("evaluation.build" in err.value.message) is inherited
    assert "evaluation.tasks[1].build: false" in err.value.hint


def test_cli_exit_2_and_nothing_written(tmp_path: Path) -> None:
    path = config(tmp_path, "evaluation:\n  build: true\n  tasks:\n    - name: helm.medcalc_bench\n")
    result = run_cli(["up", str(path), "--dry-run"], cwd=tmp_path)
    assert result.code == 2, result
    assert "evaluation.tasks[0].build" in result.stderr and "hint:" in result.stderr
    assert not (tmp_path / "out").exists()


def test_container_and_build_on_one_task_exclude_each_other(tmp_path: Path) -> None:
    path = config(tmp_path, """
    evaluation:
      tasks:
        - name: simple_evals.mgsm
          container: my/simple-evals:1
          build: true
    """)
    with pytest.raises(ConfigError) as err:
        load_and_render(path)
    assert err.value.key == "evaluation.tasks[0].build"


def test_a_tasks_container_wins_over_evaluation_build(tmp_path: Path) -> None:
    path = config(tmp_path, """
    evaluation:
      build: true
      tasks:
        - name: simple_evals.mgsm
          container: my/simple-evals:1
        - name: simple_evals.mmlu
    """)
    _, plan, files = load_and_render(path)
    services = compose_doc(files)["services"]
    assert services["mgsm"]["image"] == "my/simple-evals:1" and "build" not in services["mgsm"]
    assert services["mmlu"]["image"] == TAG and "build" in services["mmlu"]


# --------------------------------------------------------------------------- tags and versions


def test_every_packaged_harness_gets_a_valid_tag_and_the_images_version() -> None:
    packaged = {h: v for h, v in CATALOG["harnesses"].items() if v.get("pypi_package")}
    assert len(packaged) >= 15
    for name, harness in packaged.items():
        build = harness_build(name, harness["pypi_package"], harness["image"])
        assert REFERENCE.match(build.tag), build.tag
        assert build.version == "26.3", (name, harness["image"])
        assert build.requirements == (NEMO_EVALUATOR_REQUIREMENT, f"{harness['pypi_package']}==26.3")
        assert build.folder == f"build/{build.slug}" and "/" not in build.slug
    assert harness_build("AA-LCR", "nvidia-aa-lcr", "x:26.03").tag == "evalcompose/harness-aa-lcr:26.3"
    assert pypi_version("nvcr.io/nvidia/eval-factory/mteb:25.11") == "25.11"
    with pytest.raises(ValueError):
        pypi_version("nvcr.io/nvidia/eval-factory/mteb:latest")


# --------------------------------------------------------------------------- the wheelhouse in the run folder


def fake_cache(requirements: tuple[str, ...]) -> Path:
    """A filled folder of the wheel cache ($EVALCOMPOSE_CACHE) as cached_wheelhouse leaves it: two fake wheels."""
    folder = wheelhouse_cache_folder(requirements)
    folder.mkdir(parents=True)
    names = ["pip-99-py3-none-any.whl", "nvidia_simple_evals-26.3-py3-none-any.whl"]
    for name in names:
        (folder / name).write_bytes(b"not really a wheel")
    (folder / WHEELHOUSE_MARKER).write_text(json.dumps({"requirements": sorted(requirements), "files": names}))
    return folder


def test_link_wheelhouse_hard_links_or_symlinks_across_file_systems(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCOMPOSE_CACHE", str(tmp_path / "cache"))
    cached = fake_cache(("a==1",))
    assert link_wheelhouse(cached, tmp_path / "run1" / "wheelhouse") == "hard links"
    linked = tmp_path / "run1" / "wheelhouse" / "pip-99-py3-none-any.whl"
    assert linked.stat().st_ino == (cached / linked.name).stat().st_ino and not linked.is_symlink()

    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert link_wheelhouse(cached, tmp_path / "run2" / "wheelhouse") == "symlink"
    assert (tmp_path / "run2" / "wheelhouse").resolve() == cached.resolve()
    assert [p.name for p in (tmp_path / "run2").iterdir()] == ["wheelhouse"]  # no staging folder left


def test_dry_run_writes_a_complete_build_context(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EVALCOMPOSE_CACHE", str(cache))
    cached = fake_cache((NEMO_EVALUATOR_REQUIREMENT, "nvidia-simple-evals==26.3"))
    result = run_cli(["up", str(EXAMPLE), "--dry-run", "--json"], cwd=tmp_path,
                     env={"EVALCOMPOSE_CACHE": str(cache), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.code == 0, result
    assert "downloading" not in result.stderr  # the cache was filled: no network
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    context = run_dir / "build" / "simple_evals"
    assert (context / "Dockerfile").read_text(encoding="utf-8") == pypi_dockerfile()
    assert sorted(p.name for p in (context / "wheelhouse").iterdir()) == sorted(wheelhouse_files_of(cached))
    # no engine answered (DOCKER_HOST points nowhere): the base default is the configured one
    doc = yaml.safe_load((run_dir / "compose.yaml").read_text(encoding="utf-8"))
    assert doc["services"]["mgsm"]["build"]["args"]["BASE_IMAGE"] == "${EVALCOMPOSE_BASE_IMAGE:-python:3.11-slim}"


def wheelhouse_files_of(cached: Path) -> list[str]:
    return json.loads((cached / WHEELHOUSE_MARKER).read_text())["files"]


@pytest.mark.compose
def test_compose_accepts_the_build_block(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EVALCOMPOSE_CACHE", str(cache))
    fake_cache((NEMO_EVALUATOR_REQUIREMENT, "nvidia-simple-evals==26.3"))
    result = run_cli(["up", str(EXAMPLE), "--dry-run", "--json"], cwd=tmp_path, env={"EVALCOMPOSE_CACHE": str(cache)})
    assert result.code == 0, result
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    proc = subprocess.run([*compose_command(), "config", "--format", "json"], cwd=run_dir, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "NGC_API_KEY": "x", "HF_TOKEN": "x"})
    assert proc.returncode == 0, proc.stderr
    build = json.loads(proc.stdout)["services"]["mgsm"]["build"]
    assert Path(build["context"]) == run_dir / "build" / "simple_evals" / "wheelhouse"
    assert build["dockerfile"] == "../Dockerfile"
    assert build["args"]["HARNESS_REQUIREMENT"] == "nvidia-simple-evals==26.3"


# --------------------------------------------------------------------------- a real build (slow)


def listed_tasks(ls_output: str, harness: str) -> set[str]:
    """The tasks ``nemo-evaluator ls`` lists under ``<harness>:`` (lines ``  * <task>``)."""
    tasks: set[str] = set()
    current = None
    for line in ls_output.splitlines():
        if re.match(r"^\S.*:\s*$", line):
            current = line.strip().rstrip(":").strip()
        elif (m := re.match(r"^\s+\*\s+(\S+)\s*$", line)) and current == harness:
            tasks.add(m.group(1))
    return tasks


def image_id(tag: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", tag, "--format", "{{.Id}}"], capture_output=True, text=True,
                          timeout=60)
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.mark.docker
def test_real_build_lists_the_catalogs_tasks(tmp_path: Path) -> None:
    """Dry run (real pip download) -> plain ``docker compose build`` in the run folder -> ``nemo-evaluator ls``."""
    started = time.monotonic()
    result = run_cli(["up", str(EXAMPLE), "--dry-run", "--json"], cwd=tmp_path, timeout=900)
    assert result.code == 0, result
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    assert (run_dir / "build" / "simple_evals" / "wheelhouse").is_dir()
    filled = time.monotonic()

    before = image_id(TAG)
    build = subprocess.run([*compose_command(), "build", "--no-cache"], cwd=run_dir, capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stderr[-4000:]
    built = time.monotonic()
    if before and before != image_id(TAG):  # the image this rebuild replaced: not left dangling (fails if in use)
        subprocess.run(["docker", "rmi", before], capture_output=True, text=True, timeout=120)

    ls = subprocess.run(["docker", "run", "--rm", "--user", "1000:1000", TAG, "nemo-evaluator", "ls"],
                        capture_output=True, text=True, timeout=300)
    assert ls.returncode == 0, ls.stderr[-2000:]
    catalog = {t["name"] for t in CATALOG["tasks"] if t["harness"] == "simple_evals"}
    listed = listed_tasks(ls.stdout, "simple_evals")
    assert listed == catalog, f"only in the image: {sorted(listed - catalog)}; only in the catalog: {sorted(catalog - listed)}"
    size = subprocess.run(["docker", "image", "inspect", TAG, "--format", "{{.Size}}"], capture_output=True, text=True)
    print(f"\nwheelhouse {filled - started:.0f} s, build {built - filled:.0f} s, ls {time.monotonic() - built:.0f} s, "
          f"image {int(size.stdout.strip() or 0) / 1e6:.0f} MB, {len(listed)} tasks")

"""Issue 10 #8 without an engine: which named volumes a run declares, so ``down`` can list them
and ``down --volumes`` remove them (the shared model cache is reported apart and kept)."""

from __future__ import annotations

import json
from pathlib import Path

from evalcompose_testlib import REPO, invoke_cli

from composer.control import named_volumes
from composer.layout import MODEL_CACHE_VOLUME
from composer.workspace import read_run


def _dry_run(tmp_cwd: Path, config: Path, *overrides: str):
    args = ["up", str(config), "--dry-run", "--json", "-o", f"execution.output_dir={tmp_cwd / 'out'}"]
    for o in overrides:
        args += ["-o", o]
    result = invoke_cli(args)
    assert result.code == 0, result.stderr
    return read_run(Path(json.loads(result.stdout)["run_dir"]))


def test_volumes_asked_for_by_extra_docker_args_are_listed(tmp_cwd):
    run = _dry_run(tmp_cwd, REPO / "examples" / "quickstart.yaml",
                   "execution.extra_docker_args='-v ec-data-a:/data -v ec-data-b:/more:ro -v /tmp:/hostdir'")
    assert named_volumes(run) == ["ec-data-a", "ec-data-b"], "bind mounts are not volumes"


def test_the_model_cache_of_a_gpu_server_is_listed_under_its_shared_name(tmp_cwd):
    run = _dry_run(tmp_cwd, REPO / "examples" / "vllm_phi4_mini.yaml")
    assert MODEL_CACHE_VOLUME in named_volumes(run)


def test_a_run_without_named_volumes_lists_none(tmp_cwd):
    assert named_volumes(_dry_run(tmp_cwd, REPO / "examples" / "quickstart.yaml")) == []

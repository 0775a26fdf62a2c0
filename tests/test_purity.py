"""Loading, planning and rendering are pure: no os.environ, no outside process, no per-load
global registration; the same inputs give the same files."""

from __future__ import annotations

import os
import subprocess
from collections.abc import MutableMapping
from pathlib import Path

import pytest

from evalcompose_testlib import FIXED_CWD, FIXED_ID, FIXED_NOW, FIXED_USER

SEEDS = Path(__file__).parent / "seed_configs"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class _Untouchable(MutableMapping):
    def _fail(self, *args, **kwargs):
        raise AssertionError("os.environ was read during load/plan/render")

    __getitem__ = __setitem__ = __delitem__ = __iter__ = __len__ = _fail  # type: ignore[assignment]
    get = copy = _fail  # type: ignore[assignment]


def _no_process(*args, **kwargs):
    raise AssertionError(f"an outside process was started during load/plan/render: {args[:1]}")


CONFIGS = sorted(SEEDS.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))


def _pure_pipeline(config: Path) -> dict[str, str]:
    from composer.catalog import load_catalog
    from composer.config import load_config
    from composer.plan import build_plan
    from composer.render import render

    loaded = load_config(config, [], {"SOME_VAR": "x"})
    plan = build_plan(loaded, load_catalog(), invocation_id=FIXED_ID, now=FIXED_NOW, user=FIXED_USER,
                      cwd=FIXED_CWD, home=Path("/home/pure"))
    return render(plan)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_load_plan_render_read_no_environment_and_start_nothing(config, monkeypatch):
    _pure_pipeline(config)  # warm caches (catalog, templates, imports)
    monkeypatch.setattr(os, "environ", _Untouchable())
    monkeypatch.setattr(subprocess, "run", _no_process)
    monkeypatch.setattr(subprocess, "Popen", _no_process)
    files = _pure_pipeline(config)
    monkeypatch.undo()
    assert files == _pure_pipeline(config)


def test_resolvers_are_registered_once_and_see_only_the_given_environment(tmp_path):
    from omegaconf import OmegaConf

    from composer.config import load_config

    config = tmp_path / "c.yaml"
    config.write_text("defaults:\n  - execution: local\n  - deployment: none\n  - _self_\n"
                      "execution:\n  output_dir: ${oc.env:OUT_ROOT,fallback}/runs\n"
                      "target:\n  api_endpoint:\n    model_id: m\n    url: http://example.invalid/v1/chat/completions\n"
                      "evaluation:\n  tasks:\n    - name: ifeval\n")
    first = load_config(config, [], {"OUT_ROOT": "/a"})
    registered = {name: OmegaConf._get_resolver(name) for name in ("oc.env", "select_not_null")}
    second = load_config(config, [], {})
    assert {name: OmegaConf._get_resolver(name) for name in registered} == registered
    assert first.config.execution.output_dir == "/a/runs"
    assert second.config.execution.output_dir == "fallback/runs"

"""Golden files: config in, the exact files of the run folder out.

Layout (one folder per case, parametrized by folder)::

    tests/golden/<case>/config.yaml      the config (cases made for these tests)
    tests/golden/<case>/overrides.txt    optional: one -o override per line
    tests/golden/<case>/environ.txt      optional: KEY=VALUE lines, the environment ${oc.env:...} sees
    tests/golden/<case>/expected/...     the rendered files

Every seed config (``tests/seed_configs/X.yaml``) and example (``examples/X.yaml``) is a case too,
``seed-X`` / ``example-X``, read from where it lives; only its ``expected/`` folder is here.

The invocation id, clock, user and cwd are fixed, and ``HOME`` is ``/home/golden`` (``~`` in
paths), so the output does not depend on the machine. Compared: every rendered file except the
entrypoint script (a verbatim template), ``RERUN.md`` (prose) and ``config.yaml`` (the resolved
config, also inside each run_config.yml).

After an intended change, regenerate and review the diff::

    UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/test_render_golden.py && git diff tests/golden
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from composer.layout import ENTRYPOINT_FILE
from evalcompose_testlib import EXAMPLES, FIXED_CWD, REPO, SEED_CONFIGS, TESTS, load_and_render

GOLDEN = TESTS / "golden"
EXCLUDED = {ENTRYPOINT_FILE, "RERUN.md", "config.yaml"}
UPDATE = os.environ.get("UPDATE_GOLDEN", "").strip() not in ("", "0")
GOLDEN_HOME = "/home/golden"


def _cases() -> dict[str, Path]:
    cases = {f"seed-{p.stem}": p for p in SEED_CONFIGS}
    cases.update({f"example-{p.stem}": p for p in EXAMPLES})
    cases.update({d.name: d / "config.yaml" for d in sorted(GOLDEN.iterdir()) if (d / "config.yaml").is_file()}
                 if GOLDEN.is_dir() else {})
    return dict(sorted(cases.items()))


CASES = _cases()


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def rendered_case(case: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("HOME", GOLDEN_HOME)
    folder = GOLDEN / case
    environ = dict(line.split("=", 1) for line in _read_lines(folder / "environ.txt"))
    _, _, files = load_and_render(CASES[case], _read_lines(folder / "overrides.txt"), environ)
    return {name: text for name, text in files.items() if name not in EXCLUDED}


def _expected(case: str) -> dict[str, str]:
    root = GOLDEN / case / "expected"
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


def _write_expected(case: str, files: dict[str, str]) -> None:
    root = GOLDEN / case / "expected"
    shutil.rmtree(root, ignore_errors=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("case", list(CASES))
def test_golden(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    actual = rendered_case(case, monkeypatch)
    if UPDATE:
        _write_expected(case, actual)
        return
    expected = _expected(case)
    assert expected, (f"no golden files for case {case}: run UPDATE_GOLDEN=1 .venv/bin/pytest "
                      f"tests/test_render_golden.py and review tests/golden/{case}/expected")
    hint = "if the change is intended: UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_golden.py"
    assert sorted(actual) == sorted(expected), f"rendered files differ from tests/golden/{case}/expected ({hint})"
    for name in sorted(actual):
        if actual[name] != expected[name]:
            diff = "".join(difflib.unified_diff(expected[name].splitlines(True), actual[name].splitlines(True),
                                                f"expected/{name}", f"rendered/{name}"))
            pytest.fail(f"{case}/{name} differs from its golden file ({hint}):\n{diff}", pytrace=False)


def test_no_stale_golden_folders() -> None:
    """Every folder under tests/golden is a case (a removed seed or example leaves none behind)."""
    stale = sorted(d.name for d in GOLDEN.iterdir() if d.is_dir() and d.name not in CASES)
    if UPDATE:
        for name in stale:
            shutil.rmtree(GOLDEN / name)
        return
    assert not stale, f"golden folders without a config: {stale} (delete them, or UPDATE_GOLDEN=1 does)"


@pytest.mark.parametrize("case", list(CASES))
def test_render_does_not_depend_on_the_machine(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No checkout path or temp path in the output; rendering twice gives the same text."""
    first = rendered_case(case, monkeypatch)
    assert rendered_case(case, monkeypatch) == first
    for name, text in first.items():
        for needle in {str(REPO), os.getcwd(), "/tmp/pytest-"} - {"/", str(FIXED_CWD)}:
            assert needle not in text, f"{case}/{name} contains the machine path {needle}"


def test_required_cases_exist() -> None:
    """The cases this suite promises (issue 2): orders, networks, every deployment, env prefixes."""
    required = {"sequential", "lanes", "localhost", "external_network", "deploy_vllm", "deploy_sglang", "deploy_nim",
                "deploy_trtllm", "deploy_generic", "env_prefixes", "overrides", "release_form", "interpolation"}
    assert required <= set(CASES)
    assert {f"seed-{p.stem}" for p in SEED_CONFIGS} | {f"example-{p.stem}" for p in EXAMPLES} <= set(CASES)

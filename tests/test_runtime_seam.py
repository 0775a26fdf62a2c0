"""The runtime seam: engine argv, the failure classifier, the scheduler's process identity, and the
rule that only composer/runtime/ starts outside processes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from composer.errors import PrerequisiteError, RuntimeFailure
from composer.runtime import Engine, compose_argv, docker_argv, scheduler
from composer.runtime.process import fail, first_error, run

PACKAGE = Path(__file__).resolve().parent.parent / "composer"


def _global_options(argv: list[str]) -> list[str]:
    """The options between ``docker`` and the command, without the private --config pair."""
    assert argv[0] == "docker"
    rest = argv[1:]
    if rest[:1] == ["--config"]:
        rest = rest[2:]
    return rest


@pytest.mark.parametrize("text, options", [
    (None, []), ("", []), ("default", []),
    ("gpu-box", ["--context", "gpu-box"]),
    ("unix:///run/user/1000/docker.sock", ["--host", "unix:///run/user/1000/docker.sock"]),
    ("tcp://10.0.0.5:2376", ["--host", "tcp://10.0.0.5:2376"]),
    ("ssh://me@gpu-box", ["--host", "ssh://me@gpu-box"]),
])
def test_engine_selects_context_or_host_in_docker_argv(text, options):
    assert _global_options(docker_argv(Engine.parse(text))) == options


def test_compose_argv_puts_the_engine_before_compose_and_the_project_after(tmp_path):
    argv = compose_argv(tmp_path, "evalcompose-abc", ("compose.yaml", "resume.yaml"), Engine(context="b"))
    rest = _global_options(argv)
    assert rest == ["--context", "b", "compose", "--file", str(tmp_path / "compose.yaml"),
                    "--file", str(tmp_path / "resume.yaml"), "--project-name", "evalcompose-abc",
                    "--project-directory", str(tmp_path)]


@pytest.mark.parametrize("kwargs", [{"context": "a", "host": "tcp://x:1"}, {"host": "http://x"},
                                    {"context": "-x"}, {"context": ""}])
def test_engine_rejects_ambiguous_or_malformed_values(kwargs):
    with pytest.raises(ValueError):
        Engine(**kwargs)


def test_engine_is_a_hashable_value():
    assert Engine.parse("tcp://h:1") == Engine(host="tcp://h:1")
    assert len({Engine(), Engine.parse(None), Engine.parse("default")}) == 1


@pytest.mark.parametrize("stderr", ["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                                    "Is the docker daemon running?",
                                    "error during connect: Get http://x/v1.41/version: EOF"])
def test_a_daemon_that_is_down_is_a_prerequisite_error(stderr):
    with pytest.raises(PrerequisiteError) as exc:
        fail(stderr, "stopping p failed")
    assert exc.value.exit_code == 3


def test_socket_permission_is_a_prerequisite_error():
    with pytest.raises(PrerequisiteError, match="permission denied"):
        fail("permission denied while trying to connect to the Docker daemon socket", "x failed")


def test_other_failures_name_the_operation_and_the_telling_line():
    stderr = "Container p-a-1  Stopping\nContainer p-a-1  Error\nError response from daemon: conflict: in use\n"
    with pytest.raises(RuntimeFailure) as exc:
        fail(stderr, "removing p failed", hint="h")
    assert exc.value.message == "removing p failed: Error response from daemon: conflict: in use"
    assert exc.value.hint == "h"


def test_first_error_skips_compose_progress_lines():
    assert first_error("Container x-1  Error\n") == "Container x-1  Error"  # only progress: kept
    assert first_error("Container x-1  Error\nfailed to solve: boom\n") == "failed to solve: boom"


def test_run_passes_extra_environment_to_that_command_only(monkeypatch):
    monkeypatch.delenv("EVALCOMPOSE_T_SECRET", raising=False)
    out = run([sys.executable, "-c", "import os; print(os.environ['EVALCOMPOSE_T_SECRET'])"],
              env={"EVALCOMPOSE_T_SECRET": "s3"})
    assert out.stdout.strip() == "s3"
    import os

    assert "EVALCOMPOSE_T_SECRET" not in os.environ


def test_run_classifies_a_missing_program():
    with pytest.raises(PrerequisiteError, match="not found"):
        run(["evalcompose-no-such-program-xyz"])


def _record(run_dir: Path, pid: int, started: str | None) -> None:
    state = scheduler.state_dir(run_dir)
    (state / "up.pid").write_text(str(pid))
    if started is not None:
        (state / "up.started").write_text(started)


def test_scheduler_alive_needs_pid_and_create_time(tmp_path):
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _record(tmp_path, proc.pid, repr(psutil.Process(proc.pid).create_time()))
        assert scheduler.state(tmp_path).running
        _record(tmp_path, proc.pid, repr(psutil.Process(proc.pid).create_time() - 100))  # a reused pid
        assert not scheduler.state(tmp_path).running
        scheduler.stop(tmp_path)  # must not signal the process that now has that pid
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert not scheduler.state(tmp_path).running


def test_scheduler_state_reads_exit_status_and_error(tmp_path):
    state = scheduler.state_dir(tmp_path)
    (state / "up.log").write_text("Container p-a-1  Created\nContainer p-model-1  Error\n"
                                  "dependency failed to start: container p-model-1 is unhealthy\n")
    (state / "up.exit").write_text("1\n")
    got = scheduler.state(tmp_path)
    assert (got.running, got.exit_code, got.error) == (False, 1, "dependency failed to start: container p-model-1 is unhealthy")
    assert scheduler.created_containers(tmp_path) == {"p-a-1"}
    assert scheduler.ended(tmp_path)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_runtime_package_imports_subprocess_or_python_on_whales():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "runtime" not in p.relative_to(PACKAGE).parts[:1]
                 and _imports(p) & {"subprocess", "python_on_whales", "multiprocessing", "pty"}]
    assert offenders == []
    assert {"os"} & _imports(PACKAGE / "runtime" / "process.py")  # the detector sees imports at all
    assert "subprocess" in _imports(PACKAGE / "runtime" / "process.py")

"""Issue 10 #7, ids: what names a run, and that nothing acts on "the latest run" unasked.

A run id is the 16-hex invocation id, a job id ``<invocation>.<n>``, or a unique prefix of
either. Empty strings, ``.``, ``..``, paths and anything else are bad input (exit 2, one line),
checked before any run is looked up or any engine is asked. These run in-process (no engine).
"""

from __future__ import annotations

import pytest
from evalcompose_testlib import invoke_cli
from hypothesis import given
from hypothesis import strategies as st

from composer.errors import BadRunId
from composer.workspace import parse_run_ref

BAD = ["", " ", ".", "..", "./", "../x", "/tmp", "a/b", "..0", "abc..1", "abc.", ".1", "xyz", "abc.1.2",
       "0123456789abcdef0", "abc\n", "ABC.-1", "~", "abc def"]


PATHS = {"./", "../x", "/tmp", "a/b", "~"}
COMMANDS = [["status"], ["down"], ["kill"], ["resume"], ["watch"], ["logs", "--no-follow"]]
CASES = [(c, r) for c in COMMANDS for r in BAD] + [(["results"], r) for r in BAD if r not in PATHS]


@pytest.mark.parametrize("command,ref", CASES)
def test_bad_ids_are_exit_2_one_line(command, ref):
    """Lifecycle commands take ids only; ``results`` (read-only) also reads a run folder given as a path."""
    result = invoke_cli([command[0], ref, *command[1:]])
    assert result.code == 2, (command, ref, result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "hint:" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["status"], ["watch"]])
def test_no_command_acts_on_the_latest_run_unasked(command):
    result = invoke_cli(command)
    assert result.code == 2, result
    assert "--latest" in result.stderr


@given(st.text(alphabet="0123456789abcdef", min_size=1, max_size=16),
       st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)))
def test_every_hex_prefix_and_job_index_parses(prefix, index):
    ref = prefix if index is None else f"{prefix}.{index}"
    assert parse_run_ref(ref) == (prefix, None if index is None else str(index))
    assert parse_run_ref(ref.upper())[0] == prefix


@given(st.text(min_size=0, max_size=20))
def test_anything_else_is_refused_or_parsed_as_hex(text):
    try:
        prefix, index = parse_run_ref(text)
    except BadRunId:
        return
    assert prefix and all(c in "0123456789abcdef" for c in prefix) and len(prefix) <= 16
    assert index is None or index.isdigit()


@pytest.mark.parametrize("secret, exported_as", [("host:MY_TOKEN_VAR", "MY_TOKEN_VAR"),
                                                 ("lit:not-written-anywhere", "EVALCOMPOSE_LIT_HF_TOKEN")])
def test_resume_names_the_variable_it_needs_before_touching_docker(tmp_path, secret, exported_as):
    """A lit: secret's value is never written, so resume must get it from the shell again: one
    line, exit 2, naming the variable to export (never its value), before any engine is asked."""
    import json

    import yaml

    config = {"defaults": [{"execution": "local"}, {"deployment": "generic"}, "_self_"],
              "execution": {"output_dir": str(tmp_path / "out")},
              "deployment": {"image": "evalcompose/model-standin:0.1", "command": "python3 /app/standin.py",
                             "served_model_name": "m", "env_vars": {"HF_TOKEN": secret}},
              "evaluation": {"tasks": [{"name": "arithmetic"}]}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {"MY_TOKEN_VAR": "x-value-x", "DOCKER_HOST": "unix:///nonexistent.sock"}
    dry = invoke_cli(["up", str(path), "--dry-run", "--json"], env=env)
    assert dry.code == 0, dry.stderr
    inv = json.loads(dry.stdout)["invocation_id"]
    result = invoke_cli(["resume", inv], env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and exported_as in lines[0] and "not-written-anywhere" not in lines[0]

"""Bad input through the CLI: exit 2, ONE line on stderr naming the key path (with a hint where the
issue asks for one), no traceback, and nothing written (issue 2, item 7).

Every case runs in-process (``invoke_cli``, fast); the cases in ``SUBPROCESS`` also run as a real
``python -m composer`` process, where a traceback or a stray print would really show."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalcompose_testlib import docker_daemon_available, invoke_cli, run_cli, skip_or_fail, snapshot, write_config

GOOD = """\
execution:
  output_dir: out
  mode: parallel
target:
  api_endpoint:
    model_id: org/model
    url: https://example.invalid/v1/chat/completions
    api_key_name: API_KEY
evaluation:
  tasks:
    - name: ifeval
"""

# case: (config text or None for no file, extra CLI args, texts stderr must contain)
CASES = {
    "unknown key": (GOOD.replace("mode:", "mdoe:"), [], ["execution.mdoe", "unknown key", "did you mean 'mode'"]),
    "unknown nested key": (GOOD.replace("model_id:", "modle_id:"), [],
                           ["target.api_endpoint.modle_id", "did you mean 'model_id'"]),
    "unknown top-level key": (GOOD + "evaluations: {}\n", [], ["evaluations", "did you mean 'evaluation'"]),
    "wrong type": (GOOD.replace("mode: parallel", "mode: parallel\n  max_parallel: lots"), [],
                   ["execution.max_parallel", "integer"]),
    "wrong enum": (GOOD.replace("mode: parallel", "mode: sometimes"), [], ["execution.mode"]),
    "override without =": (GOOD, ["-o", "execution.mode"], ["-o execution.mode", "key=value", "hint:"]),
    "override of a missing key": (GOOD, ["-o", "execution.max_paralel=2"],
                                  ["execution.max_paralel", "+execution.max_paralel"]),
    "override adding an existing key": (GOOD, ["-o", "+execution.mode=sequential"], ["execution.mode", "hint:"]),
    "override with a bad key": (GOOD, ["-o", "a..b=1"], ["a..b", "not a valid key path"]),
    "override with a bad value": (GOOD, ["-o", "+execution.max_parallel=0"], ["execution.max_parallel"]),
    "unknown task": (GOOD.replace("- name: ifeval", "- name: ifevl"), [],
                     ["evaluation.tasks[0].name", "did you mean 'ifeval'"]),
    "unknown harness task": (GOOD.replace("- name: ifeval", "- name: simple_evals.mmlu_por"), [],
                             ["evaluation.tasks[0].name", "did you mean 'simple_evals.mmlu_pro'"]),
    "ambiguous task": (GOOD.replace("/chat/completions", ""), [],
                       ["evaluation.tasks[0].name", "codec.ifeval", "lm-evaluation-harness.ifeval"]),
    "endpoint mismatch": (GOOD.replace("- name: ifeval", "- name: lm-evaluation-harness.gsm8k"), [],
                          ["evaluation.tasks[0].name", "/v1/completions"]),
    "??? unfilled": (GOOD.replace("model_id: org/model", "model_id: '???'"), [],
                     ["target.api_endpoint.model_id", "mandatory", "-o target.api_endpoint.model_id="]),
    "??? of a group": (GOOD, ["-o", "deployment=generic"], ["deployment.", "mandatory"]),
    "unset ${oc.env}": (GOOD.replace("output_dir: out", "output_dir: out/${oc.env:EVALCOMPOSE_TEST_UNSET_VAR}"), [],
                        ["execution.output_dir", "EVALCOMPOSE_TEST_UNSET_VAR"]),
    "missing file": (None, [], ["config file not found", "nothere.yaml"]),
    "invalid YAML": ("execution: {output_dir: out\n  bad: [\n", [], ["not valid YAML at line", "hint:"]),
    "not a mapping": ("- a\n- b\n", [], ["mapping"]),
    "unsupported docker flag": (GOOD.replace("mode: parallel", "mode: parallel\n  extra_docker_args: --cidfile /tmp/x"),
                                [], ["execution.extra_docker_args", "--cidfile", "no Docker Compose equivalent"]),
    "slurm": ("defaults: [{execution: slurm/default}, _self_]\n" + GOOD, [], ["execution", "slurm/default", "local"]),
    "missing env file": (GOOD, ["--env-file", "nope.env"], ["--env-file", "nope.env"]),
    "bad env value": (GOOD.replace("evaluation:\n", "evaluation:\n  env_vars: {HF_TOKEN: 'not a name'}\n"), [],
                      ["evaluation.env_vars.HF_TOKEN", "host:NAME"]),
    "no url": (GOOD.replace("    url: https://example.invalid/v1/chat/completions\n", ""), [],
               ["target.api_endpoint.url", "required"]),
}


SUBPROCESS = {"unknown key", "??? unfilled", "missing file", "invalid YAML", "unsupported docker flag"}


def check_error(tmp_cwd: Path, evalcompose_home: Path, text: str | None, args: list[str], expected: list[str],
                command: list[str] | None = None, subprocess: bool = True) -> str:
    config = write_config(tmp_cwd, text) if text is not None else tmp_cwd / "nothere.yaml"
    before = snapshot(tmp_cwd)
    code, out, err = (run_cli if subprocess else invoke_cli)(command or ["up", config.name, "--dry-run", *args])
    assert code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("error: ")
    for piece in expected:
        assert piece in lines[0], f"{piece!r} not in: {lines[0]}"
    assert out == ""
    assert snapshot(tmp_cwd) == before, "files were written"
    assert not list(evalcompose_home.rglob("*.json")), "a run was registered"
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line(tmp_cwd: Path, evalcompose_home: Path, case: str) -> None:
    text, args, expected = CASES[case]
    check_error(tmp_cwd, evalcompose_home, text, args, expected, subprocess=False)


@pytest.mark.parametrize("case", sorted(SUBPROCESS))
def test_bad_input_in_a_real_process(tmp_cwd: Path, evalcompose_home: Path, case: str) -> None:
    text, args, expected = CASES[case]
    check_error(tmp_cwd, evalcompose_home, text, args, expected, subprocess=True)


def test_run_form_reports_the_same(tmp_cwd: Path, evalcompose_home: Path) -> None:
    write_config(tmp_cwd, GOOD.replace("mode:", "mdoe:"), "cfg.yaml")
    check_error(tmp_cwd, evalcompose_home, None, [], ["execution.mdoe", "did you mean 'mode'"],
                command=["run", "--config-dir", ".", "--config-name", "cfg", "--dry-run"])
    check_error(tmp_cwd, evalcompose_home, None, [], ["config file not found"],
                command=["run", "--config-dir", ".", "--config-name", "missing", "--dry-run"], subprocess=False)


def test_no_config_at_all(tmp_cwd: Path, evalcompose_home: Path) -> None:
    check_error(tmp_cwd, evalcompose_home, None, [], ["no config given", "hint:"], command=["up", "--dry-run"],
                subprocess=False)


def test_missing_host_variable_on_up(tmp_cwd: Path, evalcompose_home: Path) -> None:
    """A real ``up`` (no --dry-run) checks every host variable before it starts or writes anything."""
    if not docker_daemon_available():
        skip_or_fail("no Docker Engine: up stops at its preflight before it checks variables")
    line = check_error(tmp_cwd, evalcompose_home, GOOD, [], [], command=["up", "config.yaml"])
    assert "target.api_endpoint.api_key_name" in line and "API_KEY is not set" in line and "hint:" in line


def test_missing_include(tmp_cwd: Path, evalcompose_home: Path) -> None:
    check_error(tmp_cwd, evalcompose_home, "defaults: [common, _self_]\n" + GOOD, [], ["defaults"], subprocess=False)


def test_wrong_type_has_a_hint(tmp_cwd: Path, evalcompose_home: Path) -> None:
    text, args, _ = CASES["wrong type"]
    check_error(tmp_cwd, evalcompose_home, text, args, ["hint:"], subprocess=False)

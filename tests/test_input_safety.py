"""Issue 10, classes 4 and 5 through the CLI: values checked before anything is written, and input
that would hang or crash (alias bombs, deep nesting, huge, binary or non-UTF-8 files, an output_dir
that cannot be written) is one line on stderr, exit 2 (config) or 3 (the host), no traceback,
nothing written."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from evalcompose_testlib import invoke_cli, run_cli, snapshot, write_config
from test_cli_errors import GOOD, check_error

PARAMS = "evaluation.nemo_evaluator_config.config.params"


def with_params(params: str, task_params: str | None = None) -> str:
    text = GOOD.replace("evaluation:\n", f"evaluation:\n  nemo_evaluator_config:\n    config:\n      params: {params}\n")
    if task_params is not None:
        text = text.replace("    - name: ifeval\n", "    - name: ifeval\n      nemo_evaluator_config:\n"
                                                   f"        config:\n          params: {task_params}\n")
    return text


BAD_VALUES = {
    "limit_samples 0": (with_params("{limit_samples: 0}"), [f"{PARAMS}.limit_samples", ">= 1"]),
    "limit_samples negative": (with_params("{limit_samples: -3}"), [f"{PARAMS}.limit_samples"]),
    "limit_samples text": (with_params("{limit_samples: ten}"), [f"{PARAMS}.limit_samples"]),
    "limit_samples bool": (with_params("{limit_samples: true}"), [f"{PARAMS}.limit_samples"]),
    "limit_samples 1.5": (with_params("{limit_samples: 1.5}"), [f"{PARAMS}.limit_samples"]),
    "parallelism 0": (with_params("{parallelism: 0}"), [f"{PARAMS}.parallelism", "from 1 to 1024"]),
    "parallelism huge": (with_params("{parallelism: 100000}"), [f"{PARAMS}.parallelism", "1024"]),
    "request_timeout 0": (with_params("{request_timeout: 0}"), [f"{PARAMS}.request_timeout", "> 0"]),
    "max_retries negative": (with_params("{max_retries: -1}"), [f"{PARAMS}.max_retries"]),
    "temperature negative": (with_params("{temperature: -0.5}"), [f"{PARAMS}.temperature"]),
    "temperature nan": (with_params("{temperature: .nan}"), [f"{PARAMS}.temperature"]),
    "top_p above 1": (with_params("{top_p: 1.5}"), [f"{PARAMS}.top_p"]),
    "max_new_tokens 0": (with_params("{max_new_tokens: 0}"), [f"{PARAMS}.max_new_tokens"]),
    "param typo": (with_params("{paralelism: 4}"), [f"{PARAMS}.paralelism", "unknown key", "did you mean 'parallelism'"]),
    "config typo": (GOOD.replace("evaluation:\n", "evaluation:\n  nemo_evaluator_config: {config: {parms: {}}}\n"),
                    ["evaluation.nemo_evaluator_config.config.parms", "did you mean 'params'"]),
    "task-level value": (with_params("{limit_samples: 5}", "{limit_samples: 0}"),
                         ["evaluation.tasks[0].nemo_evaluator_config.config.params.limit_samples"]),
    "task-level typo": (with_params("{}", "{max_retires: 2}"),
                        ["evaluation.tasks[0].nemo_evaluator_config.config.params.max_retires", "did you mean 'max_retries'"]),
    "url scheme": (GOOD.replace("https://example.invalid", "ftp://example.invalid"),
                   ["target.api_endpoint.url", "http:// or https://"]),
    "url no scheme": (GOOD.replace("https://example.invalid", "example.invalid:8000"), ["target.api_endpoint.url"]),
    "url no host": (GOOD.replace("https://example.invalid", "http://:8000"), ["target.api_endpoint.url", "no host"]),
    "url port 0": (GOOD.replace("https://example.invalid", "http://example.invalid:0"), ["target.api_endpoint.url", "port"]),
    "url port too big": (GOOD.replace("https://example.invalid", "http://example.invalid:70000"),
                         ["target.api_endpoint.url", "port"]),
    "url with a space": (GOOD.replace("https://example.invalid/v1", "https://example.invalid/v 1"),
                         ["target.api_endpoint.url", "space"]),
    "url in nemo_evaluator_config": (
        GOOD.replace("evaluation:\n", "evaluation:\n  nemo_evaluator_config: {target: {api_endpoint: {url: 'gopher://x'}}}\n"),
        ["evaluation.nemo_evaluator_config.target.api_endpoint.url"]),
    "env var name": (GOOD.replace("evaluation:\n", "evaluation:\n  env_vars: {'MY-VAR': 'lit:x'}\n"),
                     ["evaluation.env_vars", "MY-VAR", "not a valid name"]),
    "env var name digit": (GOOD.replace("evaluation:\n", "evaluation:\n  env_vars: {'1X': 'lit:x'}\n"),
                           ["evaluation.env_vars", "not a valid name"]),
    "host variable name": (GOOD.replace("evaluation:\n", "evaluation:\n  env_vars: {X: 'host:NOT VALID'}\n"),
                           ["evaluation.env_vars.X", "host variable"]),
    "image reference": (GOOD.replace("    - name: ifeval\n", "    - name: ifeval\n      container: 'Bad Image:1'\n"),
                        ["evaluation.tasks[0].container", "image reference"]),
    "user": (GOOD.replace("mode: parallel", "mode: parallel\n  user: '0; rm -rf /'"), ["execution.user"]),
    "duplicate key": (GOOD.replace("  mode: parallel\n", "  mode: parallel\n  mode: sequential\n"),
                      ["'mode' appears twice", "lines 3 and 4"]),
}

GENERIC = """\
defaults: [{execution: local}, {deployment: generic}, _self_]
execution: {output_dir: out}
deployment: {image: evalcompose/model-standin:0.1, command: serve, served_model_name: m, PORTLINE}
evaluation: {tasks: [{name: arithmetic}]}
"""
BAD_VALUES.update({
    "deployment port 0": (GENERIC.replace("PORTLINE", "port: 0"), ["deployment.port", "1 to 65535"]),
    "publish_port too big": (GENERIC.replace("PORTLINE", "publish_port: 65536"), ["deployment.publish_port"]),
    "health path": (GENERIC.replace("PORTLINE", "endpoints: {health: 'health; rm -rf /'}"),
                    ["deployment.endpoints.health", "starting with /"]),
    "blank command": (GENERIC.replace("command: serve", "command: '  '").replace(", PORTLINE", ""), ["deployment.command"]),
})


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_value_is_one_line_naming_its_key(tmp_cwd: Path, evalcompose_home: Path, case: str) -> None:
    text, expected = BAD_VALUES[case]
    check_error(tmp_cwd, evalcompose_home, text, [], expected, subprocess=False)


def test_url_is_named_by_key_not_echoed(tmp_cwd: Path, evalcompose_home: Path) -> None:
    """A URL may carry credentials: the error names the key, not the URL."""
    text = GOOD.replace("https://example.invalid", "ftp://user:s3cr3t-token@example.invalid")
    line = check_error(tmp_cwd, evalcompose_home, text, [], ["target.api_endpoint.url"], subprocess=False)
    assert "s3cr3t-token" not in line


@pytest.mark.parametrize("params", ["{limit_samples: 0.25}", "{limit_samples: '25', parallelism: '8'}",
                                    "{temperature: 0, top_p: 1, max_retries: 0, request_timeout: 3600}",
                                    "{extra: {anything: [1, {deep: true}], 'dotted.key': x}}", "{limit_samples: null}"])
def test_good_values_pass(tmp_cwd: Path, params: str) -> None:
    write_config(tmp_cwd, with_params(params))
    code, _, err = invoke_cli(["up", "config.yaml", "--dry-run"])
    assert code == 0, err


# --------------------------------------------------------------------------- files that hang or crash

ALIAS_BOMB = "a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("name, payload, expected", [
    ("alias bomb", (GOOD + ALIAS_BOMB).encode(), ["too complex", "alias"]),
    ("deep nesting", (GOOD + "x: " + "[" * 5000 + "]" * 5000 + "\n").encode(), ["too complex", "nesting"]),
    ("deep mapping", (GOOD + "x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n").encode(), ["too complex"]),
    ("huge", (GOOD + "# " + "x" * (2 << 20) + "\n").encode(), ["larger than 1024 KiB"]),
    ("binary", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), ["binary file"]),
    ("latin-1", GOOD.replace("org/model", "caf\xe9").encode("latin-1"), ["not UTF-8", "offset"]),
])
def test_hostile_config_files_fail_fast_in_one_line(tmp_cwd: Path, evalcompose_home: Path, name, payload,
                                                     expected) -> None:
    (tmp_cwd / "config.yaml").write_bytes(payload)
    before = snapshot(tmp_cwd)
    started = time.monotonic()
    code, _, err = run_cli(["up", "config.yaml", "--dry-run"], cwd=tmp_cwd)
    elapsed = time.monotonic() - started
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert all(piece in err for piece in expected), err
    assert snapshot(tmp_cwd) == before
    assert elapsed < 5, f"{name}: {elapsed:.1f} s (the process itself starts in ~1 s)"


def test_alias_bomb_is_refused_in_under_a_second() -> None:
    from composer.config.yamlio import parse_yaml
    from composer.errors import ConfigError

    started = time.monotonic()
    with pytest.raises(ConfigError, match="too complex"):
        parse_yaml(ALIAS_BOMB, "bomb.yaml")
    assert time.monotonic() - started < 1


def test_utf8_bom_is_fine(tmp_cwd: Path) -> None:
    (tmp_cwd / "config.yaml").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    code, _, err = invoke_cli(["up", "config.yaml", "--dry-run"])
    assert code == 0, err


@pytest.mark.parametrize("payload, expected", [
    (b"API_KEY=x\x00y\n", "binary file"),
    ("API_KEY=caf\xe9\n".encode("latin-1"), "not UTF-8"),
    (b"API_KEY=ok\nsk-live-abcdef0123456789\n", "line 2 is not NAME=value"),
    (b"A" * (2 << 20), "larger than"),
])
def test_bad_env_file_is_one_line_and_never_echoes(tmp_cwd: Path, evalcompose_home: Path, payload, expected) -> None:
    (tmp_cwd / "my.env").write_bytes(payload)
    line = check_error(tmp_cwd, evalcompose_home, GOOD, ["--env-file", "my.env"], [expected], subprocess=False)
    assert "sk-live" not in line and "caf" not in line


# --------------------------------------------------------------------------- output_dir

@pytest.mark.parametrize("output_dir, code, expected", [
    ("afile", 2, "is a file"),
    ("afile/below", 2, "is under a file"),
    ("/proc/sys/evalcompose-out", 3, "cannot write"),
    ("/proc/evalcompose-out", 3, "cannot write"),
    ("n" * 300 + "/out", 2, "too long"),  # os.stat raises ENAMETOOLONG, not a missing folder
])
def test_output_dir_that_cannot_hold_a_run(tmp_cwd: Path, evalcompose_home: Path, output_dir, code, expected) -> None:
    (tmp_cwd / "afile").write_text("not a folder\n", encoding="utf-8")
    write_config(tmp_cwd, GOOD.replace("output_dir: out", f"output_dir: {output_dir}"))
    before = snapshot(tmp_cwd)
    result = run_cli(["up", "config.yaml", "--dry-run"], cwd=tmp_cwd)
    assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr and "execution.output_dir" in result.stderr
    assert snapshot(tmp_cwd) == before
    assert not list(evalcompose_home.rglob("*.json"))


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs, nearly full; skipped where mount is not permitted."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, check=False).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        (mnt / "filler").write_bytes(b"\0" * 60 * 1024)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def test_output_dir_on_a_full_disk(tmp_cwd: Path, evalcompose_home: Path, full_disk: Path) -> None:
    write_config(tmp_cwd, GOOD.replace("output_dir: out", f"output_dir: {full_disk}/out"))
    result = run_cli(["up", "config.yaml", "--dry-run"], cwd=tmp_cwd)
    assert result.code == 3, result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    leftovers = [p for p in full_disk.rglob("*") if p.name != "filler" and p.is_file()]
    assert leftovers == [], "a half-written run folder was left"
    assert not list(evalcompose_home.rglob("*.json"))


def test_alias_bomb_in_an_override_value(tmp_cwd: Path, evalcompose_home: Path) -> None:
    levels = ["&a [x,x,x,x,x,x,x,x,x]"] + [f"&{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdef", "bcdefg")]
    bomb = f"[{', '.join(levels)}]"
    check_error(tmp_cwd, evalcompose_home, GOOD, ["-o", f"+{PARAMS}.extra.x={bomb}"], ["-o value", "too complex"],
                subprocess=False)

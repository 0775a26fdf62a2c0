"""The README documents the CLI that exists: every command and option its code blocks show is
a real one, and every command (group or leaf) has help text."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from composer.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
ROOT = typer.main.get_command(app)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)


def readme_commands() -> list[list[str]]:
    """Each ``evalcompose ...`` invocation in the README's code blocks, as words after the program."""
    found = []
    for block in _code_blocks(README.read_text(encoding="utf-8")):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in re.split(r"\s(?:\|\||&&|;|\|)\s", line):
                part = part.replace("[", " ").replace("]", " ")
                try:
                    words = shlex.split(part)
                except ValueError:  # prose in a block ("the launcher's ..."): words as written
                    words = part.split()
                for i, word in enumerate(words):
                    if word == "evalcompose" or word.endswith("/evalcompose"):
                        found.append(words[i + 1:])
                        break
    return found


def _subcommand(command, name: str):
    """The subcommand ``name`` of a group (typer may ship its own copy of click: duck-typed)."""
    return getattr(command, "commands", {}).get(name)


def _is_value_option(param) -> bool:
    return param.param_type_name == "option" and not param.is_flag


def _resolve(words: list[str]):
    """The (sub)command the words name, and the problems found in them."""
    command = ROOT
    problems: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        options = {name: p for p in command.params for name in (*p.opts, *p.secondary_opts)}
        if word.startswith("-") and word not in ("-", "--"):
            name = word.split("=", 1)[0]
            param = options.get(name)
            if param is None and name not in ("-h", "--help"):
                problems.append(f"{' '.join(words)}: no option {name}")
            elif param is not None and _is_value_option(param) and "=" not in word:
                i += 1  # its value
        elif hasattr(command, "commands"):
            sub = _subcommand(command, word)
            if sub is None:
                problems.append(f"{' '.join(words)}: no command {word!r}")
                break
            command = sub
        i += 1
    return command, problems


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert len(commands) >= 10  # the parser found the command list (a broken parser would check nothing)
    assert ["up", "config.yaml", "-d"] in commands


def test_every_command_and_option_in_the_readme_exists():
    problems = [p for words in readme_commands() for p in _resolve(words)[1]]
    assert problems == []


@pytest.mark.parametrize("words, problem", [(["upp", "x.yaml"], "no command 'upp'"),
                                            (["up", "x.yaml", "--detached"], "no option --detached"),
                                            (["ls", "runs", "--jsn"], "no option --jsn")])
def test_the_checker_catches_what_does_not_exist(words, problem):
    assert any(problem in p for p in _resolve(words)[1])


def _all_commands(command, path: str = "evalcompose"):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _all_commands(sub, f"{path} {name}")


@pytest.mark.parametrize("path, command", list(_all_commands(ROOT)), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_text(path, command):
    assert (command.help or command.short_help or "").strip(), f"{path} has no help text"
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"

"""The typer apps the command modules register on (kept apart from ``composer.cli`` so that no
command module imports the package that imports it)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="evalcompose",
    help="Run LLM evaluations (nemo-evaluator harness containers) as Docker Compose projects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ls_app = typer.Typer(help="List tasks or runs.", no_args_is_help=True)
app.add_typer(ls_app, name="ls")

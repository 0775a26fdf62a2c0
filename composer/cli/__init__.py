"""The ``evalcompose`` command: a typer app, one small module per command group.

This is the single place where errors become output: a known :class:`EvalComposeError` prints
one line (``error: ...``) and exits with its code; anything else keeps its traceback. Command
modules import heavy dependencies inside their functions so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import EvalComposeError
from . import ls_cmd, manage_cmds, models_cmds, results_cmds, run_cmds  # noqa: F401  (commands register themselves on import)
from .app import app, ls_app  # noqa: F401  (re-exported)


def main() -> None:
    """Console-script entry point."""
    try:
        code = app(standalone_mode=False, prog_name="evalcompose")  # click returns typer.Exit's code here instead of exiting
        sys.exit(code if isinstance(code, int) else 0)
    except EvalComposeError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click's own exceptions arrive here in non-standalone mode
        if not isinstance(exc, _click_classes("Abort", "ClickException")):
            raise
        if isinstance(exc, _click_classes("Abort")):
            sys.exit(1)
        if _message(exc):  # NoArgsIsHelpError has printed the help and says nothing
            print(f"error: {_usage_line(exc)}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, _click_classes("UsageError")) else getattr(exc, "exit_code", 1) or 1)


def _click_classes(*names: str) -> tuple[type, ...]:
    """The click exception classes of every click this typer may use.

    typer >= 0.22 vendors click as ``typer._click`` (its exceptions are not ``click``'s); older
    typers use the ``click`` package. Both are looked up, so each version in the ranges we
    declare gets one-line usage errors.
    """
    import importlib

    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        found += [getattr(mod, n) for n in names if hasattr(mod, n)]
    return tuple(found)


def _message(exc: Any) -> str:
    """click's message of ``exc``, on one line ('' for NoArgsIsHelpError)."""
    return " ".join(str(exc.format_message()).split())


def _usage_line(exc: Exception) -> str:
    """One short line: click's message, and where to read more (``evalcompose CMD --help``)."""
    message = _message(exc)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "evalcompose"
    if isinstance(exc, _click_classes("UsageError")):
        return f"{message} (hint: {command} --help)"
    return message

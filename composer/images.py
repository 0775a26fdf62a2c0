"""Built-in images: what evalcompose can build itself, and their build contexts.

evalcompose ships two images as *data* (Dockerfile + sources under
``compose-templates/images/<name>/``; in an installed wheel ``composer/_compose_templates``):

- ``harness`` -> ``evalcompose/harness-builtin:0.1``: nemo-evaluator 0.2.8 plus the
  ``evalcompose_bench`` framework (tasks ``arithmetic`` [chat], ``arithmetic_completions``
  [completions]): deterministic, offline benchmarks for smoke tests and demos.
- ``standin`` -> ``evalcompose/model-standin:0.1``: an OpenAI-compatible model stand-in
  (stdlib only) with knobs for latency, start-up delay, errors and hangs.

Both build FROM the build argument ``BASE_IMAGE``: ``base_image()`` gives
``$EVALCOMPOSE_BASE_IMAGE`` or ``python:3.11-slim``; ``BASE_IMAGE_CANDIDATES`` lists the
fall-backs in order, the last being ``evalcompose/base-python:bookworm``, which
``scripts/build-base-image.sh`` makes with debootstrap for machines without a registry.
The caller (the runtime) checks which candidate exists locally; this module makes no
Docker calls.

Python packages are never fetched inside a build: ``fill_wheelhouse()`` runs ``pip
download`` on the host (cp311 manylinux wheels, since both bases have Python 3.11) into a
cache (``$EVALCOMPOSE_CACHE/wheelhouse`` or ``~/.cache/evalcompose/wheelhouse``), and
``prepare_build_context()`` copies the template folder plus that wheelhouse into a
context directory for ``docker build --build-arg BASE_IMAGE=...``. Command line:
``python -m composer.images build-contexts [--dest DIR]`` prints ``TAG<TAB>CONTEXT`` lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PrerequisiteError
from .templates import templates_dir

DEFAULT_BASE_IMAGE = "python:3.11-slim"
LOCAL_BASE_IMAGE = "evalcompose/base-python:bookworm"
BASE_IMAGE_ENV = "EVALCOMPOSE_BASE_IMAGE"
BASE_IMAGE_CANDIDATES = (DEFAULT_BASE_IMAGE, LOCAL_BASE_IMAGE)
WHEEL_PYTHON_VERSION = "3.11"
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


@dataclass(frozen=True)
class BuiltinImage:
    name: str  # key, also the template folder under images/
    tag: str
    description: str
    wheels: tuple[str, ...] = field(default=())  # requirements for wheelhouse/ ("" = none)


BUILTIN_IMAGES: dict[str, BuiltinImage] = {
    img.name: img
    for img in (
        BuiltinImage("harness", "evalcompose/harness-builtin:0.1",
                     "nemo-evaluator 0.2.8 + built-in benchmarks (framework evalcompose_bench)",
                     ("nemo-evaluator==0.2.8", "setuptools>=70.1")),
        BuiltinImage("standin", "evalcompose/model-standin:0.1",
                     "OpenAI-compatible model stand-in (Python stdlib only)"),
    )
}
HARNESS_IMAGE = BUILTIN_IMAGES["harness"].tag
STANDIN_IMAGE = BUILTIN_IMAGES["standin"].tag
BUILTIN_HARNESS = "evalcompose_bench"
BUILTIN_TASKS = {"arithmetic": "chat", "arithmetic_completions": "completions"}


def base_image() -> str:
    """The base image to build FROM: $EVALCOMPOSE_BASE_IMAGE, else python:3.11-slim."""
    return os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE


def base_image_candidates() -> list[str]:
    """Base images to try, in order (the caller keeps the first one present locally)."""
    first = base_image()
    return [first] + [c for c in BASE_IMAGE_CANDIDATES if c != first]


def cache_dir() -> Path:
    root = os.environ.get("EVALCOMPOSE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "evalcompose"


def _pip_download_args(dest: Path, requirements: list[str]) -> list[str]:
    args = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
            "--only-binary=:all:", "--python-version", WHEEL_PYTHON_VERSION]
    for plat in WHEEL_PLATFORMS:
        args += ["--platform", plat]
    return args + ["-d", str(dest), "pip", *requirements]


def fill_wheelhouse(dest: Path | str, requirements: list[str] | tuple[str, ...]) -> Path:
    """Put pip + the wheels for `requirements` (and their dependencies) into `dest`.

    Downloads once into a cache folder keyed by the requirements; later calls only copy
    (hard-link when possible). Returns `dest`.
    """
    dest = Path(dest)
    reqs = sorted(requirements)
    key = hashlib.sha256(json.dumps([reqs, WHEEL_PYTHON_VERSION, WHEEL_PLATFORMS]).encode()).hexdigest()[:16]
    cached = cache_dir() / "wheelhouse" / key
    marker = cached / ".complete.json"
    if not marker.is_file():
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=_mkdir(cached.parent)))
        try:
            proc = subprocess.run(_pip_download_args(tmp, reqs), capture_output=True, text=True)
            if proc.returncode != 0:
                raise PrerequisiteError(f"pip download of {', '.join(reqs)} failed: {proc.stderr.strip().splitlines()[-1:] or ''}",
                                        hint="the image build needs PyPI (or a mirror: PIP_INDEX_URL)")
            (tmp / ".complete.json").write_text(json.dumps(
                {"requirements": reqs, "files": sorted(p.name for p in tmp.glob("*.whl"))}, indent=1))
            shutil.rmtree(cached, ignore_errors=True)
            os.replace(tmp, cached)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _mkdir(dest)
    for name in json.loads(marker.read_text())["files"]:
        src, dst = cached / name, dest / name
        if dst.exists():
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return dest


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def prepare_build_context(image_name: str, dest_dir: Path | str | None = None) -> Path:
    """Assemble the build context of a built-in image and return its folder.

    The context is `dest_dir/<image_name>` (a new temporary folder when dest_dir is
    None): the template folder plus `wheelhouse/` when the image needs wheels. Build it
    with `docker build --build-arg BASE_IMAGE=<base_image()> -t <tag> <context>`.
    """
    image = BUILTIN_IMAGES[image_name]
    src = templates_dir() / "images" / image.name
    root = Path(dest_dir) if dest_dir else Path(tempfile.mkdtemp(prefix="evalcompose-build-"))
    ctx = root / image.name
    if ctx.exists():
        shutil.rmtree(ctx)
    shutil.copytree(src, ctx, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "*.egg-info", "build", "dist", "wheelhouse"))
    if image.wheels:
        fill_wheelhouse(ctx / "wheelhouse", image.wheels)
    return ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m composer.images", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="print NAME<TAB>TAG<TAB>DESCRIPTION of the built-in images")
    sub.add_parser("base-candidates", help="print the base images to try, in order")
    ctx = sub.add_parser("build-contexts", help="prepare build contexts, print TAG<TAB>CONTEXT lines")
    ctx.add_argument("--dest", default=None, help="folder for the contexts (default: a new temp folder)")
    ctx.add_argument("names", nargs="*", help=f"images (default: all of {', '.join(BUILTIN_IMAGES)})")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for img in BUILTIN_IMAGES.values():
            print(f"{img.name}\t{img.tag}\t{img.description}")
    elif args.cmd == "base-candidates":
        print("\n".join(base_image_candidates()))
    else:
        dest = Path(args.dest) if args.dest else Path(tempfile.mkdtemp(prefix="evalcompose-build-"))
        for name in args.names or list(BUILTIN_IMAGES):
            if name not in BUILTIN_IMAGES:
                parser.error(f"unknown image {name!r} (known: {', '.join(BUILTIN_IMAGES)})")
            print(f"{BUILTIN_IMAGES[name].tag}\t{prepare_build_context(name, dest)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

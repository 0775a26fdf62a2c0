"""Engine-level calls: preflight, images (inspect, pull, build, remove), containers across projects.

What is on a hot path (image checks on ``up``, ``docker ps`` for ``ls runs``) runs the docker CLI
through :func:`composer.runtime.process.run`; the rest goes through python-on-whales (imported
lazily: it costs ~0.2 s), whose client calls the same argv (:func:`client`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..errors import PrerequisiteError, RuntimeFailure
from ..layout import COMPOSE_FILE
from .engine import Engine, docker_argv
from .process import DAEMON_DOWN_HINT, classified, first_error, raise_if_no_daemon, run

MIN_COMPOSE = (2, 24)  # depends_on.required (2.20) and the !override tag used by resume (2.24)


def client(engine: Engine | None = None, run_dir: Path | None = None, project: str | None = None,
           files: tuple[str, ...] = (COMPOSE_FILE,)) -> Any:
    """A python-on-whales ``DockerClient`` calling :func:`docker_argv` (optionally bound to a project)."""
    from python_on_whales import DockerClient

    if run_dir is None:
        return DockerClient(client_call=docker_argv(engine))
    return DockerClient(client_call=docker_argv(engine), compose_files=[run_dir / f for f in files],
                        compose_project_name=project, compose_project_directory=run_dir)


def version_probe(engine: Engine | None = None) -> list[str]:
    """``docker version`` of the server: answers only when the daemon does."""
    return [*docker_argv(engine), "version", "--format", "{{.Server.Version}}"]


def preflight(engine: Engine | None = None) -> str:
    """Check client, daemon and compose, each with its own message; returns the compose version."""
    if not shutil.which("docker"):
        raise PrerequisiteError("docker client not found", hint="install Docker Engine, or run scripts/setup-docker.sh")
    server = run(version_probe(engine), timeout=20, check=False)
    if server.returncode != 0 or not server.stdout.strip():
        raise_if_no_daemon(server.stderr)
        raise PrerequisiteError("the Docker daemon is not answering", hint=DAEMON_DOWN_HINT)
    compose = run([*docker_argv(engine), "compose", "version", "--short"], timeout=20, check=False)
    found = re.match(r"v?(\d+)\.(\d+)", compose.stdout.strip())
    if compose.returncode != 0 or not found:
        raise PrerequisiteError("the docker compose v2 plugin is missing",
                                hint="install docker-compose-plugin, or pip install 'evalcompose[compose]'")
    if (int(found[1]), int(found[2])) < MIN_COMPOSE:
        raise PrerequisiteError(f"docker compose {compose.stdout.strip()} is too old",
                                hint=f"evalcompose needs Compose v{MIN_COMPOSE[0]}.{MIN_COMPOSE[1]} or newer")
    return compose.stdout.strip()


def missing_images(images: list[str], engine: Engine | None = None) -> list[str]:
    """The images (of those given) that are not on the engine (one ``image inspect`` each)."""
    missing = []
    for image in dict.fromkeys(images):
        result = run([*docker_argv(engine), "image", "inspect", "--format", "{{.Id}}", image], timeout=30, check=False)
        if result.returncode == 0:
            continue
        if "no such image" not in result.stderr.lower():
            raise_if_no_daemon(result.stderr)
            raise RuntimeFailure(f"checking image {image} failed: {first_error(result.stderr)}")
        missing.append(image)
    return missing


def missing_images_if_engine(images: list[str], engine: Engine | None = None) -> list[str] | None:
    """:func:`missing_images`, or None when no engine answers (dry runs work without Docker)."""
    try:
        return missing_images(images, engine)
    except (PrerequisiteError, RuntimeFailure):
        return None


def build_image(context: Path, tag: str, build_args: dict[str, str], engine: Engine | None = None) -> None:
    """Build one image with the classic builder (buildx is often absent; this needs nothing more)."""
    with classified(f"building {tag} failed", hint=f"see the build context {context}"):
        client(engine).legacy_build(context, tags=tag, build_args=build_args)


def pull(image: str, engine: Engine | None = None) -> None:
    """Pull one image; :class:`PrerequisiteError` (exit 3) with a hint when it cannot be had."""
    try:
        with classified(f"pulling {image} failed"):
            client(engine).image.pull(image, quiet=True)
    except RuntimeFailure as exc:
        reason = exc.message.partition(": ")[2] or "pull failed"
        hint = ("docker login nvcr.io (NGC API key), or set the task's container: to an image you have, "
                "or build: true to build the harness from PyPI") if image.startswith("nvcr.io/") else \
            f"docker pull {image} on a machine that reaches its registry, or build it locally"
        raise PrerequisiteError(f"image {image} is not on this engine and cannot be pulled ({reason[:160]})",
                                hint=hint) from None


def remove_image(tag: str, engine: Engine | None = None) -> None:
    """Remove an image (forced) when the engine has it."""
    with classified(f"removing image {tag} failed"):
        docker = client(engine)
        if docker.image.exists(tag):
            docker.image.remove(tag, force=True)


def all_evalcompose_containers(engine: Engine | None = None) -> list[dict]:
    """Every container any evalcompose project made, across projects (for ``ls runs``)."""
    result = run([*docker_argv(engine), "ps", "-a", "--filter", "label=evalcompose.invocation", "--format",
                  "{{json .}}"], timeout=30)
    return json_rows(result.stdout)


def json_rows(text: str) -> list[dict]:
    """Rows of docker's ``--format json`` output: one JSON array, or one object per line."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]

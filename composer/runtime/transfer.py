"""Moving things between this machine and an engine that shares no filesystem with it:
images (``docker save | docker load``), files in and out of containers (``docker cp``, the
engine's archive API), and one small file read from a running container (``docker exec cat``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import RuntimeFailure
from .engine import Engine, docker_argv
from .process import first_error, run


def engine_answers(engine: Engine | None, timeout: float = 15) -> bool:
    """Whether the engine's daemon answers ``docker version`` within ``timeout`` s."""
    try:
        result = run([*docker_argv(engine), "version", "--format", "{{.Server.Version}}"], timeout=timeout,
                     check=False)
    except RuntimeFailure:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def ship_image(image: str, to: Engine, source: Engine | None = None, timeout: float = 1800) -> None:
    """``docker save IMAGE | docker --host TO load``, streamed (no file on either side)."""
    save = subprocess.Popen([*docker_argv(source), "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        load = subprocess.run([*docker_argv(to), "load", "-q"], stdin=save.stdout, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        if save.stdout:
            save.stdout.close()
        save_err = save.communicate(timeout=60)[1].decode(errors="replace")
    if save.returncode != 0:
        raise RuntimeFailure(f"docker save {image} failed: {first_error(save_err)}")
    if load.returncode != 0:
        raise RuntimeFailure(f"loading {image} into engine {to} failed: {first_error(load.stderr)}")


def copy_out(container: str, path: str, dest: Path, engine: Engine | None) -> bool:
    """Copy the contents of ``container:path`` into the local folder ``dest``; False when it has none."""
    dest.mkdir(parents=True, exist_ok=True)
    result = run([*docker_argv(engine), "cp", f"{container}:{path}/.", str(dest)], timeout=600, check=False)
    if result.returncode != 0 and "could not find the file" not in result.stderr.lower():
        run([*docker_argv(engine), "cp", f"{container}:{path}/.", str(dest)], timeout=600,
            what=f"copying {path} out of {container} failed")
    return result.returncode == 0


def copy_in(src: Path, container: str, path: str, engine: Engine | None) -> None:
    """Copy the contents of the local folder ``src`` into ``container:path`` (a created or stopped one too)."""
    if src.is_dir() and any(src.iterdir()):
        run([*docker_argv(engine), "cp", f"{src}/.", f"{container}:{path}"], timeout=600,
            what=f"copying {src} into {container} failed")


def read_in_container(container: str, path: str, engine: Engine | None) -> str | None:
    """The text of a small file in a running container, None when it cannot be read."""
    try:
        result = run([*docker_argv(engine), "exec", container, "cat", path], timeout=15, check=False)
    except RuntimeFailure:
        return None
    return result.stdout if result.returncode == 0 else None

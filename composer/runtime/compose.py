"""Compose project operations: ps, build, stop, rm, down, logs (argv from :mod:`.engine`), and what a
finished run gives back to the engine: its networks; its named volumes on ``down --volumes``."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ..layout import COMPOSE_FILE
from .docker import client, json_rows, version_probe
from .engine import Engine, compose_argv, docker_argv, project_argv
from .process import classified, run, spawn, whole_error


def containers(project: str, engine: Engine | None = None) -> list[dict]:
    """One row per container of the project (``docker compose ps -a --format json``).

    While ``up`` is creating containers, ``compose ps`` can list one the daemon cannot inspect yet
    ("No such container", seen on Engine 20.10): that answer is retried, briefly.
    """
    argv = [*project_argv(project, engine), "ps", "-a", "--no-trunc", "--format", "json"]
    for attempt in range(5):
        result = run(argv, timeout=30, check=False)
        if result.returncode == 0 or "no such container" not in result.stderr.lower():
            break
        time.sleep(0.1 * (attempt + 1))
    if result.returncode != 0:
        run(argv, timeout=30)  # raises with the error explained
    return json_rows(result.stdout)


def build_services(project_dir: Path, project: str, services: list[str] | None = None,
                   files: tuple[str, ...] = (COMPOSE_FILE,), timeout: float = 3600,
                   env: Mapping[str, str] | None = None, engine: Engine | None = None) -> None:
    """``docker compose build [SERVICES]``: BuildKit through the engine, no buildx plugin needed.
    ``env`` is added to compose's environment (interpolation of the compose file)."""
    run([*compose_argv(project_dir, project, files, engine), "build", *(services or [])], timeout=timeout,
        cwd=project_dir, env=env, what="docker compose build failed",
        hint=f"rerun it to see the whole log: cd {project_dir} && docker compose build")


def build_image_with_compose(tag: str, build: dict, dockerfile: str, engine: Engine | None = None) -> None:
    """Build ``tag`` from a compose ``build:`` block and Dockerfile text, in a throw-away compose project."""
    import yaml

    with tempfile.TemporaryDirectory(prefix="evalcompose-build-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        doc = {"services": {"image": {"image": tag, "build": {**build, "dockerfile": str(Path(tmp) / "Dockerfile")}}}}
        (Path(tmp) / COMPOSE_FILE).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        build_services(Path(tmp), "evalcompose-build", engine=engine)


def stop(run_dir: Path, project: str, services: list[str] | None, timeout: int = 10,
         engine: Engine | None = None) -> None:
    """SIGTERM (through init to the harness), SIGKILL after ``timeout`` s; dependents before the model."""
    with classified(f"stopping {project} failed", probe=version_probe(engine)):
        client(engine, run_dir, project).compose.stop(services or None, timeout=timeout)


def remove(run_dir: Path, project: str, services: list[str], engine: Engine | None = None) -> None:
    """Remove the (stopped) containers of ``services``; their bind-mounted artifacts and logs stay."""
    if not services:
        return
    with classified(f"removing containers of {project} failed", probe=version_probe(engine)):
        client(engine, run_dir, project).compose.rm(services, stop=False)


def down(run_dir: Path, project: str, engine: Engine | None = None) -> None:
    """Remove the project's containers and network; bind-mounted results stay."""
    with classified(f"removing {project} failed", probe=version_probe(engine)):
        client(engine, run_dir, project).compose.down(timeout=10, remove_orphans=True, quiet=True)


def logs(run_dir: Path, project: str, services: list[str], follow: bool, engine: Engine | None = None) -> int:
    """Stream the project's logs to our stdout (we own the process, so Ctrl-C ends it)."""
    argv = [*compose_argv(run_dir, project, engine=engine), "logs", "--no-color", *(["-f"] if follow else []),
            *services]
    proc = spawn(argv, cwd=run_dir)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        return 0


# ---------------------------------------------------------------- what a finished run no longer needs

def networks(project: str, engine: Engine | None = None) -> list[str]:
    """The networks compose created for the project (its label; networks the config joins are not)."""
    result = run([*docker_argv(engine), "network", "ls", "--filter", f"label=com.docker.compose.project={project}",
                  "--format", "{{.Name}}"], timeout=30)
    return result.stdout.split()


def release_networks(project: str, engine: Engine | None = None) -> list[str]:
    """Remove the project's networks (a finished run holds a pool address until then); returns those removed.

    The stopped containers stay (``status``, ``logs`` keep working); a network still in use is left
    alone. Anything that starts them again first calls :func:`remove_stale`.
    """
    removed = []
    for name in networks(project, engine):
        if run([*docker_argv(engine), "network", "rm", name], timeout=60, check=False).returncode == 0:
            removed.append(name)
    return removed


def remove_stale(project: str, services: list[str], engine: Engine | None = None) -> None:
    """Remove the stopped containers of ``services`` when the project's network is gone (released):
    compose would try to start them on the old network ("network ... not found"), never recreate them."""
    if networks(project, engine):
        return
    rows = [r for r in containers(project, engine) if r.get("Service") in services
            and r.get("State") not in ("running", "restarting", "paused")]
    if rows:
        run([*docker_argv(engine), "rm", *[r["ID"] for r in rows]], timeout=120, what=f"removing containers of {project} failed")


def run_volumes(project: str, names: list[str], engine: Engine | None = None) -> dict[str, str]:
    """Of the named volumes ``names``: name -> "ours" (created by this project), "other" (someone else's:
    created before, by another run or by hand), or "gone"."""
    out = {}
    for name in names:
        result = run([*docker_argv(engine), "volume", "inspect", "--format",
                      '{{index .Labels "com.docker.compose.project"}}', name], timeout=30, check=False)
        if result.returncode != 0:
            out[name] = "gone"
        else:
            out[name] = "ours" if result.stdout.strip() == project else "other"
    return out


def remove_volume(name: str, engine: Engine | None = None) -> str:
    """Remove a named volume; "" when done, else docker's reason (e.g. still in use)."""
    result = run([*docker_argv(engine), "volume", "rm", name], timeout=60, check=False)
    return "" if result.returncode == 0 else whole_error(result.stderr)


def down_project(project: str, engine: Engine | None = None) -> None:
    """``docker compose -p PROJECT down`` from the labels alone (the run folder is gone or unreadable)."""
    run([*project_argv(project, engine), "down", "-t", "10", "--remove-orphans"], timeout=300,
        what=f"removing {project} failed")

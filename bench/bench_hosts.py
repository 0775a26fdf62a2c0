"""The cost of spreading a run over two Docker engines instead of one (issue 12). Not a test: run it by hand, as root.

    .venv/bin/python bench/bench_hosts.py                 # 4 tasks, 2 runs per side
    .venv/bin/python bench/bench_hosts.py --tasks 6 --runs 3 --json

Both engines are on this machine (the second one started by ``scripts/second-engine.sh`` in its
own network and mount namespaces, removed afterwards), so they share its cores: this measures
evalcompose's orchestration across engines (a scheduler per engine, compose configs instead of
bind mounts, volumes, copying results back with ``docker cp``), not a speed-up.

Each side: ``evalcompose up CONFIG -d`` until every task is SUCCESS in ``evalcompose status``
(results copied back included), then ``evalcompose down`` (wall clock of both). One side is the
default engine alone; the other is ``--host default --host unix://<second engine>``. Images are
shipped to the second engine by an untimed warm-up run first. Reported: the medians and the
ratio spread / single.

The workload is the built-in harness against the stand-in (``--samples`` each, no latency): task
time is mostly nemo-evaluator's start-up, the same on both sides.
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
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "composer"]


def write_config(folder: Path, tasks: int, samples: int) -> Path:
    doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text(encoding="utf-8"))
    doc["execution"]["output_dir"] = str(folder / "out")
    doc["evaluation"]["tasks"] = [{"name": "arithmetic"}] * tasks
    doc["evaluation"]["nemo_evaluator_config"]["config"]["params"]["limit_samples"] = samples
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def timed_run(config: Path, hosts: list[str], env: dict) -> float:
    t0 = time.monotonic()
    args = [a for h in hosts for a in ("--host", h)]
    up = subprocess.run([*CLI, "up", str(config), "-d", "--json", *args], capture_output=True, text=True, env=env,
                        timeout=900)
    if up.returncode:
        raise SystemExit(f"up failed: {up.stderr[-1500:]}")
    inv = json.loads(up.stdout)["invocation_id"]
    while True:
        st = json.loads(subprocess.run([*CLI, "status", inv, "--json"], capture_output=True, text=True,
                                       env=env).stdout)[0]
        states = {j["state"] for j in st["jobs"]}
        if states <= {"SUCCESS", "FAILED", "KILLED"}:
            break
        time.sleep(0.5)
    subprocess.run([*CLI, "down", inv], capture_output=True, text=True, env=env, timeout=600)
    if states != {"SUCCESS"}:
        raise SystemExit(f"tasks did not all succeed: {st['jobs']}")
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    name = f"ec-bench-{os.getpid()}"
    script = REPO / "scripts" / "second-engine.sh"
    started = subprocess.run(["bash", str(script), "up", name], capture_output=True, text=True, timeout=600)
    if started.returncode:
        raise SystemExit(f"second engine: {started.stderr[-1500:]}")
    node = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)["UNIX_URL"]
    try:
        with tempfile.TemporaryDirectory(prefix="evalcompose-bench-hosts-") as tmp:
            env = {**os.environ, "EVALCOMPOSE_HOME": str(Path(tmp) / "home")}
            config = write_config(Path(tmp), args.tasks, args.samples)
            timed_run(config, ["default", node], env)  # warm-up: ships the images
            single, spread = [], []
            for _ in range(args.runs):  # interleaved, so load changes hit both sides
                single.append(timed_run(config, [], env))
                spread.append(timed_run(config, ["default", node], env))
    finally:
        subprocess.run(["bash", str(script), "down", name], capture_output=True, timeout=300)
    result = {"tasks": args.tasks, "cpus": os.cpu_count(), "load": os.getloadavg()[0],
              "single_s": [round(x, 2) for x in single], "spread_s": [round(x, 2) for x in spread],
              "median_single_s": round(statistics.median(single), 2),
              "median_spread_s": round(statistics.median(spread), 2),
              "ratio_spread_vs_single": round(statistics.median(spread) / statistics.median(single), 3)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.tasks} tasks, up -> all SUCCESS -> down: one engine {result['median_single_s']:.1f} s, "
          f"two engines {result['median_spread_s']:.1f} s, ratio {result['ratio_spread_vs_single']:.2f} "
          f"(same cores: orchestration cost, not speed-up)")


if __name__ == "__main__":
    main()

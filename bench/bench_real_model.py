"""Shared model server vs a server per task, with a real model on the CPU (issue 11). Not a test.

    .venv/bin/python bench/bench_real_model.py                 # 3 tasks x 4 samples
    .venv/bin/python bench/bench_real_model.py --samples 6 --max-new-tokens 128 --json

Three real IFBench tasks (ifbench.ifbench, ifbench.ifbench_aa_v2, and ifbench.ifbench again at
temperature 0.7) against SmolLM2-135M-Instruct on llama.cpp's llama-server, same image, same
model file, same parameters on both sides, from ``examples/real_cpu.yaml``:

* **shared** (evalcompose's way): ONE invocation, the three tasks in parallel (``mode:
  parallel``, ``parallelism: 1`` each), one llama-server with one slot per task (3 slots), the
  model loaded once.
* **per task** (the launcher's way with a deployment: it starts a server per task and forces
  sequential mode): three invocations one after another, each with its own llama-server (one
  slot), the model loaded each time.

Wall time of each side: from ``evalcompose up -d`` until every job is finished, by polling
``evalcompose status --json`` (0.5 s), so both sides pay the same orchestration. The ratio
shared / per-task is printed (goal <= 0.5). Needs: the bootstrap (images, model:
``evalcompose models fetch smollm2``); the IFBench image is built first if missing, outside the
clock. Everything runs in a temporary folder and EVALCOMPOSE_HOME; every project is removed.
Traffic stays inside each project's network.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "real_cpu.yaml"
TASKS = [{"name": "ifbench.ifbench"}, {"name": "ifbench.ifbench_aa_v2"},
         {"name": "ifbench.ifbench", "nemo_evaluator_config": {"config": {"params": {"temperature": 0.7}}}}]


def cli(env: dict, cwd: Path, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "composer", *args], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"evalcompose {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def write_config(folder: Path, name: str, tasks: list[dict], samples: int, max_new_tokens: int) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["execution"].update({"output_dir": str(folder / "results"), "mode": "parallel"})
    doc["deployment"]["health_interval"] = 1
    params = doc["evaluation"]["nemo_evaluator_config"]["config"]["params"]
    params.update({"limit_samples": samples, "max_new_tokens": max_new_tokens, "parallelism": 1})
    doc["evaluation"]["tasks"] = tasks
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run_to_end(env: dict, cwd: Path, config: Path, projects: list[str]) -> float:  # projects: invocation ids
    """Seconds from ``up -d`` until every job of that invocation is finished (must all succeed)."""
    started = time.monotonic()
    info = json.loads(cli(env, cwd, "up", str(config), "-d", "--json").stdout)
    projects.append(info["invocation_id"])
    while True:
        status = json.loads(cli(env, cwd, "status", info["invocation_id"], "--json", timeout=60).stdout)[0]
        states = [j["state"] for j in status["jobs"]]
        if all(s in ("SUCCESS", "FAILED", "KILLED") for s in states):
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    if set(states) != {"SUCCESS"}:
        raise SystemExit(f"run {info['invocation_id']} ended {states}: see {info['run_dir']}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4, help="IFBench prompts per task (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evalcompose-bench-real-") as tmp:
        folder = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "EVALCOMPOSE_HOME"}
        env.update({"EVALCOMPOSE_HOME": str(folder / "home"), "PYTHONUNBUFFERED": "1"})
        projects: list[str] = []
        try:
            cli(env, folder, "models", "fetch", "smollm2", timeout=900)
            shared_cfg = write_config(folder, "shared", TASKS, args.samples, args.max_new_tokens)
            cli(env, folder, "up", str(shared_cfg), "--dry-run")  # fills the wheel cache (outside the clock)
            warm = write_config(folder, "warm", TASKS[:1], 1, 8)
            run_to_end(env, folder, warm, projects)  # builds missing images, warms the page cache
            shared = run_to_end(env, folder, shared_cfg, projects)
            per_task = [run_to_end(env, folder, write_config(folder, f"task{i}", [t], args.samples,
                                                             args.max_new_tokens), projects)
                        for i, t in enumerate(TASKS)]
        finally:
            for invocation in projects:  # containers and networks go (results with the temp folder)
                subprocess.run([sys.executable, "-m", "composer", "down", invocation], capture_output=True,
                               env=env, cwd=folder, timeout=120)
    result = {"tasks": len(TASKS), "samples": args.samples, "max_new_tokens": args.max_new_tokens,
              "shared_s": round(shared, 1), "per_task_s": [round(t, 1) for t in per_task],
              "per_task_total_s": round(sum(per_task), 1), "ratio": round(shared / sum(per_task), 3),
              "cpus": os.cpu_count(), "load": [round(x, 1) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"3 real IFBench tasks x {args.samples} samples, SmolLM2-135M on llama-server (CPU, {os.cpu_count()} cores, "
              f"load {result['load'][0]})")
        print(f"  shared server, tasks in parallel:        {shared:7.1f} s")
        print(f"  a server per task, one after another:    {sum(per_task):7.1f} s  ({' + '.join(f'{t:.1f}' for t in per_task)})")
        print(f"  ratio shared / per-task:                 {result['ratio']:7.3f}   (goal <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

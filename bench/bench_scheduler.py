"""The work-conserving cap of ``max_parallel`` on a real Docker Engine (issue 12). Not a test: run it by hand.

    .venv/bin/python bench/bench_scheduler.py                # one long + eight short tasks, max_parallel 2
    .venv/bin/python bench/bench_scheduler.py --runs 3 --json

The workload is skewed on purpose: task 0 is long (``--long`` samples), tasks 1-8 are short
(``--short`` samples), built-in harness against the model stand-in with ``--latency-ms`` per
request, ``parallelism: 1``, ``max_parallel: --slots``. ``evalcompose up -d`` runs it; the script
then reads, per task, when its harness started (the time the entrypoint wrote in
``<task>/logs/slot`` when it took its slot) and when it ended (its container's FinishedAt).

From THE SAME measured durations it computes, in the same script:

* the greedy pool: config order, each task on the first slot that frees (list scheduling);
* the old fixed lanes (task i after task i-N) for reference.

and reports the measured makespan (first harness start -> last harness end) as a ratio to the
greedy pool's (goal <= 1.10; what is above 1 is the time a freed slot waits for the next task's
poll, 0.3 s, plus clock granularity), the lanes' ratio, and the largest number of harnesses
that ran at once (must be <= N).

Everything runs in a temporary EVALCOMPOSE_HOME and folder; the project is removed afterwards.
The traffic stays in the project network (tasks -> stand-in).
"""

from __future__ import annotations

import argparse
import heapq
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

REPO = Path(__file__).resolve().parents[1]


def docker_time(text: str) -> float:
    head, _, frac = text.rstrip("Z").partition(".")
    frac = (frac.split("+")[0] + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{frac}+00:00").timestamp()


def greedy_makespan(durations: list[float], slots: int) -> float:
    """List scheduling in the given order: each task starts on the first slot that frees."""
    free = [0.0] * slots
    end = 0.0
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
        end = max(end, start + d)
    return end


def lanes_makespan(durations: list[float], slots: int) -> float:
    """The fixed lanes evalcompose used before: task i waits for task i-N."""
    return max(sum(durations[lane::slots]) for lane in range(slots))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best


def config(out: Path, args) -> Path:
    doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text(encoding="utf-8"))
    doc["execution"].update({"output_dir": str(out), "max_parallel": args.slots, "mode": "parallel"})
    doc["deployment"]["env_vars"]["STANDIN_LATENCY_MS"] = f"lit:{args.latency_ms}"
    doc["evaluation"]["nemo_evaluator_config"]["config"]["params"].update({"parallelism": 1})
    samples = [args.long] + [args.short] * args.n_short
    doc["evaluation"]["tasks"] = [{"name": "arithmetic",
                                   "nemo_evaluator_config": {"config": {"params": {"limit_samples": n}}}}
                                  for n in samples]
    path = out / "skewed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def one_run(root: Path, args) -> dict:
    env = {**os.environ, "EVALCOMPOSE_HOME": str(root / "home")}
    cfg = config(root, args)
    cli = [sys.executable, "-m", "composer"]
    up = subprocess.run([*cli, "up", str(cfg), "-d", "--json"], capture_output=True, text=True, env=env, cwd=REPO,
                        timeout=600)
    if up.returncode:
        raise SystemExit(f"up failed: {up.stderr[-2000:]}")
    info = json.loads(up.stdout)
    inv, project, run_dir = info["invocation_id"], info["project"], Path(info["run_dir"])
    services = [t["service"] for t in info["tasks"]]
    try:
        deadline = time.monotonic() + args.timeout
        while True:
            st = json.loads(subprocess.run([*cli, "status", inv, "--json"], capture_output=True, text=True, env=env,
                                           cwd=REPO).stdout)[0]
            if all(j["state"] in ("SUCCESS", "FAILED", "KILLED") for j in st["jobs"]):
                break
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the run")
            time.sleep(1)
        bad = [j["service"] for j in st["jobs"] if j["state"] != "SUCCESS"]
        if bad:
            raise SystemExit(f"tasks did not succeed: {bad}")
        spans = []
        for service in services:
            words = (run_dir / service / "logs" / "slot").read_text(encoding="utf-8").split()
            ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
                                  "--filter", f"label=com.docker.compose.service={service}"],
                                 capture_output=True, text=True).stdout.split()
            finished = subprocess.run(["docker", "inspect", "--format", "{{.State.FinishedAt}}", ids[0]],
                                      capture_output=True, text=True).stdout.strip()
            spans.append((float(words[1]), docker_time(finished)))
    finally:
        subprocess.run([*cli, "down", inv], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    durations = [e - s for s, e in spans]
    measured = max(e for _, e in spans) - min(s for s, _ in spans)
    greedy = greedy_makespan(durations, args.slots)
    lanes = lanes_makespan(durations, args.slots)
    return {"measured_s": round(measured, 2), "greedy_s": round(greedy, 2), "lanes_s": round(lanes, 2),
            "ratio_vs_greedy": round(measured / greedy, 3), "lanes_vs_greedy": round(lanes / greedy, 3),
            "max_at_once": max_overlap(spans), "durations_s": [round(d, 2) for d in durations]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--long", type=int, default=120, help="samples of the long task")
    ap.add_argument("--short", type=int, default=2, help="samples of each short task")
    ap.add_argument("--n-short", type=int, default=8)
    ap.add_argument("--latency-ms", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="evalcompose-bench-sched-") as tmp:
            results.append(one_run(Path(tmp), args))
    summary = {"slots": args.slots, "cpus": os.cpu_count(), "load": os.getloadavg()[0],
               "median_ratio_vs_greedy": statistics.median(r["ratio_vs_greedy"] for r in results),
               "median_lanes_vs_greedy": statistics.median(r["lanes_vs_greedy"] for r in results),
               "max_at_once": max(r["max_at_once"] for r in results), "runs": results}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for r in results:
        print(f"measured {r['measured_s']:.1f} s  greedy pool {r['greedy_s']:.1f} s  ratio {r['ratio_vs_greedy']:.3f}"
              f"  (fixed lanes would be {r['lanes_vs_greedy']:.2f}x)  at most {r['max_at_once']} at once")
    print(f"median ratio vs greedy: {summary['median_ratio_vs_greedy']:.3f} (goal <= 1.10); "
          f"never more than {summary['max_at_once']} at once (cap {args.slots})")


if __name__ == "__main__":
    main()

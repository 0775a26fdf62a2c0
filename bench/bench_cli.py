"""Wall-clock benchmarks of the evalcompose CLI (issue 2, item 8). Not a test: run it by hand.

Each command runs N times as a fresh subprocess (as a user would run it); the table shows the
median, the issue's target for a 2-core machine, and the ratio to a baseline measured in the same
run (``python -c pass`` with the same interpreter: the floor any Python CLI pays), so numbers
from machines of different speed can be compared.

    .venv/bin/python bench/bench_cli.py              # 7 runs each
    .venv/bin/python bench/bench_cli.py --runs 15 --json
    .venv/bin/python bench/bench_cli.py --profile    # also: slowest imports and functions per command

Commands (targets from the issue; the launcher takes 1.3 s and 3.4-4.8 s for the first two):

    evalcompose --help                                   0.25 s
    evalcompose up <seed tutorial config> --dry-run      0.4 s
    evalcompose up <generated 100-task config> --dry-run 1.0 s
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = REPO / "tests" / "seed_configs" / "tutorial_local_endpoint.yaml"


def evalcompose_argv() -> list[str]:
    """The console script next to this interpreter (what users run), else ``python -m composer``."""
    script = Path(sys.executable).parent / "evalcompose"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "composer"]


def hundred_task_config(folder: Path) -> Path:
    """A config with 100 chat tasks of the catalog (by harness.task), against a hosted endpoint."""
    data = json.loads((REPO / "composer" / "data" / "catalog.json").read_text(encoding="utf-8"))
    names = sorted(f"{t['harness']}.{t['name']}" for t in data["tasks"] if "chat" in t["endpoint_types"])[:100]
    lines = ["defaults:", "  - execution: local", "  - deployment: none", "  - _self_",
             "execution:", "  output_dir: results/bench-100", "  mode: parallel", "  max_parallel: 8",
             "target:", "  api_endpoint:", "    model_id: meta/llama-3.1-8b-instruct",
             "    url: https://integrate.api.nvidia.com/v1/chat/completions", "    api_key_name: API_KEY",
             "evaluation:", "  nemo_evaluator_config:", "    config:", "      params:", "        parallelism: 4",
             "        limit_samples: 10", "  tasks:"]
    lines += [f"    - name: {n}" for n in names]
    path = folder / "hundred_tasks.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(argv: list[str], runs: int, cwd: Path, env: dict[str, str]) -> list[float]:
    """Wall-clock seconds of ``runs`` runs (after one unmeasured warm-up); exits on a failed run."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
        if i:
            times.append(elapsed)
    return times


def import_profile(argv: list[str], cwd: Path, env: dict[str, str], top: int = 12) -> list[tuple[float, str]]:
    """The ``top`` imports with the largest cumulative time (``python -X importtime``), in ms."""
    args = argv[1:] if argv[0].endswith("evalcompose") else argv[3:]
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "composer", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(3)) <= 3:  # top-level and first-level imports only
            rows.append((int(m.group(2)) / 1000, m.group(4)))
    return sorted(rows, reverse=True)[:top]


def function_profile(argv: list[str], cwd: Path, env: dict[str, str], top: int = 15) -> str:
    """cProfile's top functions by cumulative time for one run of the command."""
    args = argv[1:] if argv[0].endswith("evalcompose") else argv[3:]
    out = cwd / "profile.out"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "composer", *args], cwd=cwd, env=env,
                   capture_output=True, text=True)
    code = (f"import pstats; p = pstats.Stats({str(out)!r}); p.sort_stats('cumulative').print_stats({top})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start:start + top + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per command (median reported)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", action="store_true", help="also print import times and cProfile hot spots")
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="evalcompose-bench-"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "EVALCOMPOSE_HOME")}
        env["EVALCOMPOSE_HOME"] = str(work / "home")
        hundred = hundred_task_config(work)
        ec = evalcompose_argv()
        cases = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None),
            ("evalcompose --help", [*ec, "--help"], 0.25),
            ("up <seed tutorial> --dry-run", [*ec, "up", str(TUTORIAL), "--dry-run"], 0.4),
            ("up <100-task config> --dry-run", [*ec, "up", str(hundred), "--dry-run"], 1.0),
        ]
        results = []
        for label, argv, target in cases:
            times = measure(argv, opts.runs, work, env)
            results.append({"command": label, "median_s": statistics.median(times), "min_s": min(times),
                            "max_s": max(times), "target_s": target, "runs": len(times)})
        baseline = results[0]["median_s"]
        for r in results:
            r["ratio_to_baseline"] = r["median_s"] / baseline if baseline else None
            r["meets_target"] = None if r["target_s"] is None else r["median_s"] <= r["target_s"]
        machine = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
                   "python": sys.version.split()[0], "evalcompose": " ".join(ec)}
        if opts.json:
            print(json.dumps({"machine": machine, "results": results}, indent=2))
        else:
            print(f"{machine['cpus']} CPUs, load {machine['load_avg_1m']}, Python {machine['python']}, "
                  f"{opts.runs} runs each (median; wall clock, fresh process)\n")
            print(f"{'command':<34} {'median':>8} {'min':>7} {'max':>7} {'target':>7} {'x base':>8}  ok")
            for r in results:
                target = f"{r['target_s']:.2f}" if r["target_s"] else "-"
                ok = "" if r["meets_target"] is None else ("yes" if r["meets_target"] else "NO")
                print(f"{r['command']:<34} {r['median_s']:>7.3f}s {r['min_s']:>6.3f}s {r['max_s']:>6.3f}s "
                      f"{target:>7} {r['ratio_to_baseline']:>7.1f}x  {ok}")
        if opts.profile:
            for label, argv, target in cases[1:]:
                print(f"\n== {label}: slowest imports (cumulative ms)")
                for ms, name in import_profile(argv, work, env):
                    print(f"  {ms:8.1f}  {name}")
                print(f"== {label}: cProfile, cumulative")
                print(function_profile(argv, work, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

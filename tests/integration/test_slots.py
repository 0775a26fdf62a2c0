"""Issue 12 #1 on a real engine: the work-conserving cap of ``max_parallel``.

Every task container starts at once and takes one of N slots before its harness runs. What is
checked, from the containers themselves (harness start: the time the entrypoint wrote when it took
its slot; end: the container's FinishedAt):

* never more than N harnesses at once, and they start in config order;
* a short task starts as soon as any slot frees, not when its "lane" predecessor ends;
* a task waiting for a slot is PENDING in ``status`` while its container runs;
* the cap and the order hold under a plain ``docker compose up`` of the run folder;
* ``down`` removes the slot volume.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import compose, containers_by_service, docker, docker_time, max_overlap, wait_for

pytestmark = pytest.mark.docker

LATENCY_MS = 300


def _tasks(samples: list[int]) -> list[dict]:
    return [{"name": "arithmetic", "nemo_evaluator_config": {"config": {"params": {"limit_samples": n}}}}
            for n in samples]


def harness_intervals(run_dir, project: str, services: list[str]) -> dict[str, tuple[float, float]]:
    """service -> (harness start from <task>/logs/slot, container FinishedAt)."""
    by_service = containers_by_service(project)
    out = {}
    for service in services:
        words = (run_dir / service / "logs" / "slot").read_text(encoding="utf-8").split()
        assert words[0] == "started", (service, words)
        [container] = by_service[service]
        out[service] = (float(words[1]), docker_time(container["State"]["FinishedAt"]))
    return out


def test_cap_is_work_conserving_in_config_order_and_waiting_is_pending(ec):
    # task 0 is long; with fixed lanes (i waits for i-2) tasks 2, 4, 6 would queue behind it
    samples = [60, 2, 2, 2, 2, 2]
    cfg = ec.config(tasks=_tasks(samples), parallelism=1, max_parallel=2, standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = ec.up_detached(cfg)
    inv, project, run_dir = info["invocation_id"], info["project"], info["run_dir"]
    services = [t["service"] for t in info["tasks"]]

    # while the first two run, the others' containers run too, and read PENDING
    def pending_while_running():
        by_service = containers_by_service(project)
        jobs = ec.jobs(inv)
        running = [s for s in services if jobs[s]["state"] == "RUNNING"]
        waiting = [s for s in services if jobs[s]["state"] == "PENDING"
                   and by_service.get(s) and by_service[s][0]["State"]["Status"] == "running"]
        return (running, waiting) if len(running) == 2 and waiting else None

    running, waiting = wait_for(pending_while_running, 90, what="two RUNNING and a running container PENDING")
    assert all(ec.jobs(inv)[s]["detail"].startswith("waiting for a slot") for s in waiting if
               ec.jobs(inv)[s]["state"] == "PENDING")
    final = ec.wait_finished(inv, timeout=240)
    assert [j["state"] for j in final["jobs"]] == ["SUCCESS"] * len(samples), final["jobs"]

    spans = harness_intervals(run_dir, project, services)
    assert max_overlap(list(spans.values())) <= 2
    starts = [spans[s][0] for s in services]
    assert starts == sorted(starts), "harnesses start in config order"
    # work-conserving: with lanes task 2 would wait for the long task 0; here it takes the slot task 1 freed
    assert spans[services[2]][0] < spans[services[0]][1], spans
    # every start after the first two follows some end closely (a slot freed -> the next starts)
    ends = sorted(e for _, e in spans.values())
    for s in services[2:]:
        gap = min(spans[s][0] - e for e in ends if e <= spans[s][0] + 0.01)
        assert gap < 3, f"{s} started {gap:.1f} s after the last slot freed"

    ec.cli("down", inv, expect=0, timeout=120)
    left = docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    assert left == []


def test_plain_compose_up_keeps_cap_and_order(ec):
    samples = [4, 2, 2]
    cfg = ec.config(tasks=_tasks(samples), parallelism=1, mode="sequential",
                    standin={"STANDIN_LATENCY_MS": LATENCY_MS})
    info = json.loads(ec.cli("up", str(cfg), "--dry-run", "--json", expect=0).stdout)
    run_dir = Path(info["run_dir"])
    project = f"{info['project']}-plain"  # not evalcompose's: compose alone runs it
    services = [t["service"] for t in info["tasks"]]
    try:
        compose("-p", project, "up", "-d", cwd=run_dir, timeout=180)
        compose("-p", project, "wait", *services, cwd=run_dir, timeout=240, check=False)
        spans = harness_intervals(run_dir, project, services)
        assert max_overlap(list(spans.values())) == 1
        starts = [spans[s][0] for s in services]
        assert starts == sorted(starts)
        for s in services:
            assert (run_dir / s / "artifacts" / "results.yml").is_file(), s
    finally:
        compose("-p", project, "down", "-v", "-t", "1", cwd=run_dir, timeout=120, check=False)

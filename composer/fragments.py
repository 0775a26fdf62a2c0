"""PURE: compose fragments that both renderers use (the run's compose.yaml, :mod:`composer.render`,
and each engine's file of a spread run, :mod:`composer.spread`): the slots of ``max_parallel`` and
GPU reservations."""

from __future__ import annotations

from typing import Any


def slots_volume() -> dict[str, Any]:
    """The tasks' shared lock folder: tmpfs, so it starts empty whenever no task container of the
    project runs (a plain ``docker compose up`` rerun starts a fresh line)."""
    return {"driver": "local", "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "mode=0777,size=1m"},
            "labels": {"evalcompose.role": "slots"}}


def slot_environment(position: int, slots: int, generation: str = "run") -> dict[str, str]:
    """What a task's entrypoint reads to take a slot: the cap, its place in line, the line's name."""
    return {"EVALCOMPOSE_SLOTS": str(slots), "EVALCOMPOSE_TICKET": str(position),
            "EVALCOMPOSE_GENERATION": generation}


def gpu_reservation(gpus: str) -> dict[str, Any]:
    device: dict[str, Any] = {"driver": "nvidia", "capabilities": ["gpu"]}
    if gpus.startswith("device="):
        device["device_ids"] = gpus.removeprefix("device=").strip("\"'").split(",")
    else:
        device["count"] = "all" if gpus == "all" else int(gpus)
    return {"resources": {"reservations": {"devices": [device]}}}

"""The run-folder contract: the ``x-evalcompose`` block that render writes into compose.yaml and
every later command (status, results, kill, resume, ls) reads back.

:class:`RunMeta` is the one definition of it. :func:`composer.render` writes
``RunMeta(...).model_dump(mode="json")``; :func:`composer.workspace.read_run` parses it with
:func:`parse_run_meta`, which checks ``format_version`` first, so a folder written by a newer or
an older, incompatible evalcompose gets one clear message instead of a KeyError somewhere later.
Bump :data:`FORMAT_VERSION` when a field changes meaning or a required one is added; an added
optional field keeps the version (older readers ignore it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import IncompatibleRun

FORMAT_VERSION = 1
OLDEST_READABLE = 1


class _Meta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", protected_namespaces=())  # model_id is a field (pydantic 2.6 warns)


class TaskMeta(_Meta):
    """One task of the run: one compose service."""

    job_id: str  # <invocation>.<index>
    index: int
    service: str
    task: str  # harness.task
    harness: str
    image: str
    endpoint_type: str
    model_id: str | None = None


class ModelMeta(_Meta):
    """The co-deployed model server, when the run has one."""

    service: str
    kind: str  # deployment.type: vllm, sglang, nim, trtllm, generic
    image: str
    served_model_name: str | None = None


class RunMeta(_Meta):
    """What a run folder says about itself."""

    format_version: int
    generator: str  # "evalcompose <version>"
    invocation_id: str
    created: str  # ISO 8601, seconds
    max_parallel: int | None = None
    host_variables: list[str] = []
    model: ModelMeta | None = None
    tasks: list[TaskMeta] = []
    notes: list[str] = []


def parse_run_meta(data: Any, where: str) -> RunMeta:
    """The metadata block of the run folder ``where``, version-checked then validated.

    Raises :class:`IncompatibleRun` for a format this evalcompose cannot read, and ``ValueError``
    when the block is not run metadata at all.
    """
    if not isinstance(data, dict):
        raise ValueError("x-evalcompose is not a mapping")
    version = data.get("format_version")
    generator = data.get("generator") or "an unknown evalcompose"
    if not isinstance(version, int):
        raise ValueError("x-evalcompose has no format_version")
    if version > FORMAT_VERSION:
        raise IncompatibleRun(f"{where} was written by {generator} (run-folder format {version}); this evalcompose "
                              f"reads format {OLDEST_READABLE}-{FORMAT_VERSION}",
                              hint="upgrade evalcompose (pip install -U evalcompose) to manage this run")
    if version < OLDEST_READABLE:
        raise IncompatibleRun(f"{where} was written by {generator} (run-folder format {version}), which this "
                              f"evalcompose no longer reads (formats {OLDEST_READABLE}-{FORMAT_VERSION})",
                              hint="use that evalcompose version, or run the config again; the folder still "
                                   "works with plain docker compose")
    try:
        return RunMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"x-evalcompose.{path}: {first['msg']}") from None

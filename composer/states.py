"""The status vocabulary: every state a job, the scheduler or a task's results can be in.

String enums: a member equals its text (``JobState.SUCCESS == "SUCCESS"``), prints as it
(``f"{JobState.SUCCESS}"`` is ``SUCCESS``) and is written to JSON as it, so ``--json`` output
and run folders read the same as plain strings did.
"""

from __future__ import annotations

from enum import Enum


class _Vocabulary(str, Enum):
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class JobState(_Vocabulary):
    """One task's state, recomputed from Docker and the run folder (:mod:`composer.status`)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCESS, JobState.FAILED, JobState.KILLED)


class SchedulerPhase(_Vocabulary):
    """The background ``compose up`` of a run."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    NEVER_STARTED = "never started"  # no scheduler was ever launched for the run (written by a dry run)


class ResultStatus(_Vocabulary):
    """What a task's artifacts hold (:mod:`composer.results`)."""

    COMPLETE = "complete"  # scores and request stats, not interrupted
    PARTIAL = "partial"
    MISSING = "missing"  # none of the required files

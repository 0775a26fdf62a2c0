"""The one function that runs an outside command, and the one classifier of its failures.

:func:`run` runs a command to completion (captured output, a timeout, an optional extra
environment); :func:`spawn` starts one in the background or attached. A failed command becomes
one of our exceptions through :func:`fail` alone: the daemon down or the socket refused is a
:class:`~composer.errors.PrerequisiteError` (exit 3), anything else a
:class:`~composer.errors.RuntimeFailure` (exit 1) carrying the whole error compose or docker
printed (:func:`whole_error`: every line but the progress lines, never cut to the first).
:func:`classified` applies the same rule to python-on-whales' ``DockerException``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from ..errors import PrerequisiteError, RuntimeFailure

DAEMON_DOWN_HINT = "start it (sudo systemctl start docker, or scripts/setup-docker.sh)"
_NO_DAEMON = ("cannot connect to the docker daemon", "is the docker daemon running", "error during connect")
_PROGRESS = re.compile(r"^(Container|Network|Volume|Image)\s+\S+\s+\S+$")  # compose's "Container x  Error"


def run(argv: Sequence[str], *, timeout: float | None = 60, check: bool = True, cwd: Path | None = None,
        env: Mapping[str, str] | None = None, what: str | None = None,
        hint: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end, output captured as text, stdin closed.

    ``env`` is added to our own environment for this command only. With ``check`` a non-zero exit
    raises through :func:`fail` (``what`` names the operation in the message).
    """
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                                stdin=subprocess.DEVNULL, env=_environ(env))
    except FileNotFoundError:
        raise PrerequisiteError(f"{argv[0]} not found", hint=_install_hint(argv[0])) from None
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"'{' '.join(argv[:4])} ...' did not answer in {timeout:.0f} s") from None
    if check and result.returncode != 0:
        fail(result.stderr, what, hint, fallback=f"{' '.join(argv[:3])} failed ({result.returncode})")
    return result


def spawn(argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
          detached: bool = False) -> subprocess.Popen[bytes]:
    """Start ``argv`` without waiting. ``detached``: its own session, no stdin/stdout/stderr, so it
    outlives us and our Ctrl-C; otherwise it shares our terminal (``logs -f``)."""
    quiet = subprocess.DEVNULL if detached else None
    try:
        return subprocess.Popen(list(argv), cwd=cwd, env=_environ(env), stdin=subprocess.DEVNULL if detached else None,
                                stdout=quiet, stderr=quiet, start_new_session=detached)
    except FileNotFoundError:
        raise PrerequisiteError(f"{argv[0]} not found", hint=_install_hint(argv[0])) from None


def fail(stderr: str | None, what: str | None, hint: str | None = None, *, probe: Sequence[str] | None = None,
         fallback: str = "docker failed") -> NoReturn:
    """Raise the exception a failed docker/compose call deserves.

    ``what`` names the operation ("stopping X failed"), followed by the telling line of ``stderr``
    (without ``what``: that line alone, else ``fallback``). When
    ``stderr`` is None (python-on-whales streamed it to the terminal) ``probe``, a
    ``docker ... version`` argv, is run to tell a daemon that is down from a failed operation.
    """
    if stderr is None and probe is not None:
        answer = subprocess.run(list(probe), capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        stderr = "" if answer.returncode == 0 and answer.stdout.strip() else answer.stderr
    raise_if_no_daemon(stderr or "")
    reason = whole_error(stderr or "")
    if what is None:
        raise RuntimeFailure(reason or fallback, hint=hint)
    raise RuntimeFailure(f"{what}: {reason}" if reason else what, hint=hint)


def raise_if_no_daemon(stderr: str) -> None:
    """A daemon that is down or unreachable, or a refused socket, is a prerequisite error (exit 3)."""
    low = stderr.lower()
    if any(s in low for s in _NO_DAEMON):
        raise PrerequisiteError("the Docker daemon is not answering", hint=DAEMON_DOWN_HINT)
    if "permission denied" in low and "docker" in low:
        raise PrerequisiteError("permission denied on the Docker socket", hint="add yourself to the docker group")


def first_error(stderr: str) -> str:
    """The line that says what went wrong: compose's progress lines ("Container x  Error") are skipped."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not _PROGRESS.match(line)] or lines
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return (errors or lines or [""])[-1][:300]


_WARNING = re.compile(r'^(WARN\[\d+\]|time="[^"]*" level=warning)')


def whole_error(stderr: str, limit: int = 2000) -> str:
    """Everything compose or docker said went wrong, on one line: every line of ``stderr`` except
    compose's progress lines ("Container x  Starting") and warnings, joined with "; "
    (at most ``limit`` characters). Only progress lines: the last of them."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines if not _PROGRESS.match(line) and not _WARNING.match(line)]
    text = "; ".join(telling) if telling else (lines[-1] if lines else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_logged(argv: Sequence[str], log: Path, *, cwd: Path | None = None, timeout: float | None = None) -> int:
    """Run ``argv`` with its stdout and stderr appended to ``log``; its exit status (-1: not found)."""
    with open(log, "a", encoding="utf-8") as out:
        try:
            return subprocess.run(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=cwd, timeout=timeout, check=False).returncode
        except FileNotFoundError:
            out.write(f"{argv[0]}: not found\n")
            return -1
        except subprocess.TimeoutExpired:
            out.write(f"{' '.join(argv[:4])} ... did not end in {timeout} s\n")
            return -1


@contextmanager
def classified(what: str, hint: str | None = None, *, probe: Sequence[str] | None = None) -> Iterator[None]:
    """Turn a python-on-whales ``DockerException`` raised inside the block into our exceptions (:func:`fail`)."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as exc:
        fail(exc.stderr or None, what, hint, probe=probe)


def _environ(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if extra is None else {**os.environ, **extra}


def _install_hint(program: str) -> str:
    return "install Docker (or run scripts/setup-docker.sh)" if program == "docker" else f"install {program}"

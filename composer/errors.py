"""The one exception hierarchy of evalcompose.

Every error that evalcompose knows how to explain derives from :class:`EvalComposeError`.
The CLI turns these into one line on stderr (message, then hint) and an exit status;
anything else is a bug and keeps its traceback.

    EvalComposeError            exit 1   base class
    +-- ConfigError             exit 2   bad user input: names the config key path, never its value
    |   +-- TaskNotFound        exit 2   unknown or ambiguous task name
    +-- PrerequisiteError       exit 3   docker client / daemon / compose plugin / image missing
    |   +-- HostError           exit 3   the host refused: output folder not writable, disk full
    +-- RunNotFound             exit 3   no invocation or job matches an id
    |   +-- RunFolderUnreadable exit 3   the run is known but its folder is gone or not ours
    +-- BadRunId                exit 2   an id that cannot name a run ("", ".", "..", a path)
    +-- IncompatibleRun         exit 3   a run folder written in a format this version cannot read
    +-- RuntimeFailure          exit 1   docker or compose failed while running a project

Messages must never contain a secret value: they name keys and variables, not what they hold.
"""

from __future__ import annotations


class EvalComposeError(Exception):
    """Base class: a known failure with a one-line message and an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint on one line, as the CLI prints it."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigError(EvalComposeError):
    """The config (file, overrides or env file) is wrong. ``key`` is the dotted key path."""

    exit_code = 2

    def __init__(self, key: str | None, message: str, hint: str | None = None):
        text = f"{key}: {message}" if key else message
        super().__init__(text, hint)
        self.key = key


class TaskNotFound(ConfigError):
    """A task name matches no catalog task, or several that the rule cannot separate."""


class PrerequisiteError(EvalComposeError):
    """Something evalcompose needs on the host is missing: docker, its daemon, compose, an image."""

    exit_code = 3


class HostError(PrerequisiteError):
    """The machine refused what the config asked for: a folder not writable, a full disk."""


class RunNotFound(EvalComposeError):
    """No invocation (or job) matches the id or prefix given."""

    exit_code = 3


class RunFolderUnreadable(RunNotFound):
    """The index knows the invocation, but its run folder is deleted or its compose.yaml unreadable."""

    def __init__(self, message: str, hint: str | None = None, *, invocation_id: str = "", run_dir: str = ""):
        super().__init__(message, hint)
        self.invocation_id = invocation_id
        self.run_dir = run_dir


class BadRunId(EvalComposeError):
    """A run reference that is not an invocation id, a job id or a prefix of one (bad input: exit 2)."""

    exit_code = 2


class IncompatibleRun(EvalComposeError):
    """A run folder whose ``format_version`` is newer (or older) than this evalcompose reads."""

    exit_code = 3


class RuntimeFailure(EvalComposeError):
    """Docker or compose failed while starting, stopping or inspecting a project."""

    exit_code = 1

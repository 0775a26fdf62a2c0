"""``nemo_evaluator_config``: its keys and the known ``config.params`` checked before anything is written.

nemo-evaluator (0.2.x) validates the same structure inside the container, minutes later and
with a traceback; here a typo or an out-of-range value is one line naming the key path where
the value is (a task's own ``evaluation.tasks[2].nemo_evaluator_config...``, or the
evaluation-level one), with a "did you mean" for unknown keys. ``config.params.extra`` is the
harness's own and stays free.

Ranges: what nemo-evaluator's ``ConfigParams`` types allow, narrowed to what makes sense
(``parallelism`` at most ``MAX_PARALLELISM`` concurrent requests per task).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .urls import check_url

MAX_PARALLELISM = 1024
MAX_RETRIES = 1000

# "extra" directly under config: the launcher's own examples/local_extra_params.yaml ships it (issue 9)
CONFIG_KEYS = ("params", "output_dir", "supported_endpoint_types", "required_capabilities", "type", "extra")
TARGET_KEYS = ("api_endpoint",)
API_ENDPOINT_KEYS = ("api_key_name", "model_id", "stream", "type", "url", "adapter_config")


def _coerced(v: Any) -> Any:
    """A numeric string (``${oc.env:LIMIT}`` gives one) as the number nemo-evaluator's pydantic reads."""
    if isinstance(v, str):
        for kind in (int, float):
            try:
                return kind(v.strip())
            except ValueError:
                continue
    return v


def _is_int(v: Any) -> bool:
    """A whole number; 10.0 counts (pydantic's lax mode reads it as 10), True does not."""
    if isinstance(v, float):
        return math.isfinite(v) and v.is_integer()
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _int_range(low: int, high: int | None = None) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not _is_int(v):
            return f"must be a whole number{' >= ' + str(low) if high is None else f' from {low} to {high}'}"
        if v < low or (high is not None and v > high):
            return f"must be >= {low}" if high is None else f"must be from {low} to {high}"
        return None
    return check


def _limit_samples(v: Any) -> str | None:
    if _is_int(v) and v >= 1:
        return None
    if isinstance(v, float) and math.isfinite(v) and 0 < v < 1:
        return None  # nemo-evaluator's fraction of the data set
    return "must be a whole number >= 1 (or a fraction between 0 and 1)"


def _number_range(low: float, high: float, low_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not _is_number(v) or v > high or v < low or (low_open and v == low):
            return f"must be a number {'>' if low_open else '>='} {low:g} and <= {high:g}"
        return None
    return check


def _positive_int(v: Any) -> str | None:
    return None if _is_int(v) and v > 0 else "must be a whole number of seconds > 0"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and "\n" not in v and "\r" not in v and "\0" not in v else "must be a one-line text"


def _mapping(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be a mapping (harness-specific settings)"


PARAMS: dict[str, tuple[Callable[[Any], str | None], str]] = {
    "limit_samples": (_limit_samples, "e.g. limit_samples: 10"),
    "parallelism": (_int_range(1, MAX_PARALLELISM), "concurrent requests per task, e.g. 4"),
    "request_timeout": (_positive_int, "seconds per request, e.g. 60"),
    "max_retries": (_int_range(0, MAX_RETRIES), "retries per request, e.g. 5"),
    "max_new_tokens": (_int_range(1), "e.g. max_new_tokens: 1024"),
    "temperature": (_number_range(0, 2), "0 is greedy decoding"),
    "top_p": (_number_range(0, 1), "e.g. top_p: 1.0"),
    "task": (_text, "the harness's own task name"),
    "extra": (_mapping, "harness-specific keys go under extra:"),
}


def check_nemo_evaluator_config(nec: Any, where: str) -> None:
    """Check one ``nemo_evaluator_config`` mapping; ``where`` is its key path."""
    if not isinstance(nec, dict):
        raise ConfigError(where, "must be a mapping", hint="nemo_evaluator_config holds config: {params: ...} and target: {...}")
    config = nec.get("config")
    if config is not None:
        _known_keys(config, f"{where}.config", CONFIG_KEYS)
        params = config.get("params")
        if params is not None:
            check_params(params, f"{where}.config.params")
    target = nec.get("target")
    if target is not None:
        _known_keys(target, f"{where}.target", TARGET_KEYS)
        api = target.get("api_endpoint")
        if api is not None:
            _known_keys(api, f"{where}.target.api_endpoint", API_ENDPOINT_KEYS)
            if api.get("url") is not None:
                check_url(api["url"], f"{where}.target.api_endpoint.url")


def check_params(params: Any, where: str) -> None:
    """Check ``config.params``: known keys only (``extra`` is free), each of its type and range."""
    _known_keys(params, where, tuple(PARAMS))
    for name, value in params.items():
        if value is None:
            continue  # null: the harness's default
        check, hint = PARAMS[name]
        problem = check(value if name in ("task", "extra") else _coerced(value))
        if problem:
            raise ConfigError(f"{where}.{name}", problem, hint=hint)


def _known_keys(node: Any, where: str, known: tuple[str, ...]) -> None:
    if not isinstance(node, dict):
        raise ConfigError(where, "must be a mapping")
    for key in node:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys here are: {', '.join(known)}"
            raise ConfigError(f"{where}.{key}", "unknown key", hint=hint)

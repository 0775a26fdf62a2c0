"""Compose interpolates ``$`` in every string of compose.yaml: the escaping both ways.

:func:`escape` is applied by :mod:`composer.render` to the whole compose document, so a ``$``
that came from the config (a model id, a path, a label) stays a ``$``; :func:`unescape` is for
code that reads compose.yaml back with a plain YAML parser (the run metadata).
"""

from __future__ import annotations

from typing import Any


def escape(data: Any) -> Any:
    """Every string in ``data`` (keys too) with ``$`` written ``$$``, as compose reads it back literally."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, dict):
        return {escape(k): escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [escape(v) for v in data]
    return data


def unescape(data: Any) -> Any:
    """The inverse of :func:`escape`."""
    if isinstance(data, str):
        return data.replace("$$", "$")
    if isinstance(data, dict):
        return {unescape(k): unescape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [unescape(v) for v in data]
    return data

"""URLs and ports from configs: checked with the key named, before anything is written.

A URL must be ``http://`` or ``https://`` with a host and, if given, a port from 1 to 65535, and
hold no whitespace or control character (it ends up in files and request lines) and no
password (``https://user:token@host``: the URL is written into the run folder). The message names
the key, never the URL itself.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

URL_HINT = "e.g. https://integrate.api.nvidia.com/v1/chat/completions or http://localhost:8000/v1/completions"


def check_url(url: Any, where: str) -> None:
    """:class:`ConfigError` at ``where`` unless ``url`` is a usable http(s) URL."""
    if not isinstance(url, str) or not url:
        raise ConfigError(where, "must be a URL", hint=URL_HINT)
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in url):
        raise ConfigError(where, "the URL holds a space or a control character", hint="percent-encode it (%20)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(where, "the URL's port is not a number from 1 to 65535", hint=URL_HINT) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(where, f"the URL must start with http:// or https:// (not {parts.scheme or 'no scheme'})",
                          hint=URL_HINT)
    if not parts.hostname:
        raise ConfigError(where, "the URL has no host", hint=URL_HINT)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(where, "the URL's port is not a number from 1 to 65535", hint=URL_HINT)
    if parts.password is not None:  # the URL is written into the run folder (run_config.yml, config.yaml)
        raise ConfigError(where, "the URL holds a password (user:password@), which would be written into the run folder",
                          hint="put the key in a host variable and name it in target.api_endpoint.api_key_name")


def check_port(port: Any, where: str) -> None:
    """:class:`ConfigError` at ``where`` unless ``port`` is a whole number from 1 to 65535."""
    if port is None:
        return
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(where, "must be a port number from 1 to 65535", hint="e.g. 8000")

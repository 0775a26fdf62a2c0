"""What a failed task's log says went wrong, in one phrase that names the target.

Harnesses reach the target through nemo-evaluator's adapter server, so when the target fails
they mostly report the adapter's "No adapter interceptor returned response", which names
neither the target nor what it did. The adapter's own log lines (in ``<task>/logs/stdout.log``)
do say it, and that is what is read here:

    Request interceptor EndpointInterceptor failed: HTTPConnectionPool(host='h', port=p): Max
        retries exceeded with url: /v1/... (Caused by NewConnectionError(... Connection refused))
    Request completed status_code=503 path= ...

:func:`diagnose_log` turns them into e.g. "target http://h:p/v1/chat/completions refused the
connection" or "target http://h:p/v1/chat/completions answered HTTP 503 (4 of 4 requests)".
Pure text in, text out (the log is read by :func:`diagnose_task`); URLs lose any user:password
and query string on the way, so no credential is ever repeated.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TAIL_BYTES = 512 * 1024  # a harness log can be large: its end says what went wrong

_POOL = re.compile(r"(HTTPS?)ConnectionPool\(host='([^']*)', port=(\d+)\): Max retries exceeded with url: (\S+)")
_STATUS = re.compile(r"Request completed status_code=(\d{3})\b")
# Connection failures, most telling first: (what the log says, what we say).
_REASONS = (
    ("connection refused", "refused the connection"),
    ("name or service not known", "could not be resolved (unknown host)"),
    ("temporary failure in name resolution", "could not be resolved (DNS)"),
    ("nodename nor servname", "could not be resolved (unknown host)"),
    ("no route to host", "is unreachable (no route to host)"),
    ("network is unreachable", "is unreachable (network unreachable)"),
    ("connecttimeout", "did not accept the connection in time"),
    ("readtimeout", "did not answer in time (read timeout)"),
    ("timed out", "did not answer in time"),
    ("ssl", "failed the TLS handshake"),
    ("connection reset", "reset the connection"),
    ("remotedisconnected", "closed the connection without answering"),
)
_STATUS_NAMES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                 408: "Request Timeout", 413: "Payload Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
                 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def safe_url(url: str) -> str:
    """``url`` without user:password and without query or fragment (they may hold a key)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def diagnose_log(text: str, target_url: str | None = None) -> str | None:
    """The target's failure as the adapter logged it, or None when the log shows none."""
    refused = _connection_failure(text)
    if refused:
        return refused
    codes = Counter(int(c) for c in _STATUS.findall(text))
    total = sum(codes.values())
    bad = {code: n for code, n in codes.items() if code >= 400}
    if not bad:
        return None
    code, n = max(bad.items(), key=lambda kv: (kv[1], kv[0]))
    name = _STATUS_NAMES.get(code, "")
    where = f"target {safe_url(target_url)}" if target_url else "the target"
    others = "".join(f", HTTP {c} ({k})" for c, k in sorted(bad.items()) if c != code)
    return f"{where} answered HTTP {code}{' ' + name if name else ''} ({n} of {total} requests){others}"


def _connection_failure(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        found = _POOL.search(line)
        if not found or "EndpointInterceptor" not in line and "interceptor" not in line.lower():
            continue
        scheme, host, port, path = found.groups()
        url = safe_url(f"{scheme.lower()}://{host}:{port}{path}")
        low = line.lower()
        reason = next((said for seen, said in _REASONS if seen in low), "could not be reached")
        return f"target {url} {reason}"
    return None


def diagnose_task(task_dir: Path) -> str | None:
    """:func:`diagnose_log` of a task folder's ``logs/stdout.log`` tail and ``run_config.yml`` URL."""
    log = task_dir / "logs" / "stdout.log"
    try:
        with open(log, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - TAIL_BYTES))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return diagnose_log(text, _target_url(task_dir / "run_config.yml"))


def _target_url(run_config: Path) -> str | None:
    """``target.api_endpoint.url`` of the task's run_config.yml (a plain line scan: no YAML parse on status's path)."""
    try:
        text = run_config.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"^target:\n(?:[ ].*\n)*?\s+url:\s*['\"]?([^'\"\s]+)", text, re.MULTILINE)
    return found.group(1) if found else None

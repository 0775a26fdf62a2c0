#!/usr/bin/env python3
"""evalcompose model stand-in: a tiny OpenAI-compatible server (Python stdlib only).

It imitates a model server (vLLM/NIM/...) for tests and demos on machines without GPUs:

  POST /v1/chat/completions, POST /v1/completions   deterministic answers
  GET  /v1/models                                   the one model id
  GET  /health  (also /v1/health/ready)             200 when ready, 503 while "loading"
  GET  /stats                                       request counters (JSON)

Answers are deterministic functions of the request. For arithmetic questions
("What is 12 + 7?") it answers correctly, except for a deterministic share of
prompts (STANDIN_WRONG_RATE, default 0.2, chosen by a hash of the prompt) where it
answers off by one, so benchmark scores are real and below 100%.

Knobs (environment):
  STANDIN_PORT              listen port (default 8000), STANDIN_HOST (default 0.0.0.0)
  STANDIN_MODEL_ID          model id reported by /v1/models (default "standin"); requests
                            may name any model
  STANDIN_LATENCY_MS        added latency per completion request (default 0)
  STANDIN_STARTUP_DELAY_S   /health answers 503 until this many seconds after start
  STANDIN_NEVER_READY=1     /health never gets ready
  STANDIN_ERROR_RATE        share of completion requests answered with STANDIN_ERROR_CODE
  STANDIN_ERROR_CODE        429, 500 or 503 (default 500)
  STANDIN_HANG_RATE         share of completion requests that hang (until STANDIN_HANG_S,
                            default 3600 s, or until the client goes away)
  STANDIN_WRONG_RATE        share of arithmetic prompts answered wrongly (default 0.2)
  STANDIN_REQUEST_LOG       append one JSON line per request to this file (also printed)
  STANDIN_API_KEY           if set, completion requests need "Authorization: Bearer <it>"

Injected errors and hangs are deterministic: request number n (0, 1, ...) with the same
body sha256 gets an error iff hash(sha, n) falls under the rate, so a retry of the same
request can succeed and a rerun of the same test sees the same sequence.

Healthcheck usable from compose without curl:
  test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
(urlopen raises on 503 or a refused connection, so the command exits 1 until ready.)
"""

import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _env_float(name, default=0.0):
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


HOST = os.environ.get("STANDIN_HOST", "0.0.0.0")
PORT = int(os.environ.get("STANDIN_PORT", "8000") or 8000)
MODEL_ID = os.environ.get("STANDIN_MODEL_ID", "standin") or "standin"
LATENCY_S = _env_float("STANDIN_LATENCY_MS") / 1000.0
STARTUP_DELAY_S = _env_float("STANDIN_STARTUP_DELAY_S")
NEVER_READY = os.environ.get("STANDIN_NEVER_READY", "") not in ("", "0", "false", "no")
ERROR_RATE = _env_float("STANDIN_ERROR_RATE")
ERROR_CODE = int(os.environ.get("STANDIN_ERROR_CODE", "500") or 500)
HANG_RATE = _env_float("STANDIN_HANG_RATE")
HANG_S = _env_float("STANDIN_HANG_S", 3600.0)
WRONG_RATE = _env_float("STANDIN_WRONG_RATE", 0.2)
REQUEST_LOG = os.environ.get("STANDIN_REQUEST_LOG", "")
API_KEY = os.environ.get("STANDIN_API_KEY", "")

STARTED = time.time()
STOP = threading.Event()
_lock = threading.Lock()
_seen = {}  # body sha -> times seen (for deterministic error/hang injection)
_stats = {"requests": 0, "completions": 0, "errors_injected": 0, "hangs_injected": 0}
_log_file = None

_QUESTION = re.compile(r"(-?\d+)\s*([-+*x×])\s*(-?\d+)")


def _frac(*parts):
    """A deterministic number in [0, 1) from the given parts."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def _answer(prompt):
    """The model's deterministic reply text to a prompt."""
    matches = _QUESTION.findall(prompt)
    if not matches:
        return "I am a stand-in model. I only know arithmetic."
    a, op, b = matches[-1]
    a, b = int(a), int(b)
    value = a + b if op == "+" else a - b if op == "-" else a * b
    if _frac("wrong", prompt) < WRONG_RATE:
        value += 1 if _frac("sign", prompt) < 0.5 else -1
    return f"The answer is {value}."


def _tokens(text):
    return max(1, len(str(text).split()))


def _ready():
    return not NEVER_READY and time.time() - STARTED >= STARTUP_DELAY_S


def _log(record):
    line = json.dumps(record, sort_keys=True)
    print(line, flush=True)
    if _log_file is not None:
        with _lock:
            _log_file.write(line + "\n")
            _log_file.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "evalcompose-standin/0.1"

    def log_message(self, fmt, *args):  # the JSON request log replaces the default one
        pass

    def _send(self, status, payload, extra_headers=None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _record(self, status, model=None, sha=None, t0=None, note=None):
        rec = {"ts": round(time.time(), 3), "method": self.command, "path": self.path,
               "status": status, "model": model, "sha": sha}
        if t0 is not None:
            rec["ms"] = round((time.time() - t0) * 1000, 1)
        if note:
            rec["note"] = note
        _log(rec)

    def do_GET(self):
        with _lock:
            _stats["requests"] += 1
        path = self.path.split("?", 1)[0]
        if path in ("/health", "/v1/health/ready", "/health/ready"):
            ok = _ready()
            self._send(200 if ok else 503, {"status": "ok" if ok else "loading"})
            # health polls are not logged: they would drown the request log
        elif path == "/v1/models":
            self._send(200, {"object": "list", "data": [
                {"id": MODEL_ID, "object": "model", "created": int(STARTED), "owned_by": "evalcompose"}]})
            self._record(200)
        elif path == "/stats":
            with _lock:
                self._send(200, dict(_stats, seen_bodies=len(_seen)))
        else:
            self._send(404, {"error": {"message": f"no route {path}", "code": 404}})
            self._record(404)

    def do_POST(self):
        t0 = time.time()
        with _lock:
            _stats["requests"] += 1
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        sha = hashlib.sha256(raw).hexdigest()
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON", "code": 400}})
            return self._record(400, sha=sha, t0=t0)
        model = req.get("model") if isinstance(req, dict) else None
        if path not in ("/v1/chat/completions", "/v1/completions", "/chat/completions", "/completions"):
            self._send(404, {"error": {"message": f"no route {path}", "code": 404}})
            return self._record(404, model, sha, t0)
        if not _ready():
            self._send(503, {"error": {"message": "model is loading", "code": 503}})
            return self._record(503, model, sha, t0, "not ready")
        if API_KEY and self.headers.get("Authorization", "") != f"Bearer {API_KEY}":
            self._send(401, {"error": {"message": "bad or missing API key", "code": 401}})
            return self._record(401, model, sha, t0)
        with _lock:
            n = _seen.get(sha, 0)
            _seen[sha] = n + 1
            _stats["completions"] += 1
        if HANG_RATE and _frac("hang", sha, n) < HANG_RATE:
            with _lock:
                _stats["hangs_injected"] += 1
            self._record(None, model, sha, t0, "hang injected")
            STOP.wait(HANG_S)
            return
        if ERROR_RATE and _frac("error", sha, n) < ERROR_RATE:
            with _lock:
                _stats["errors_injected"] += 1
            headers = {"Retry-After": "0"} if ERROR_CODE == 429 else None
            self._send(ERROR_CODE, {"error": {"message": "injected error", "code": ERROR_CODE}}, headers)
            return self._record(ERROR_CODE, model, sha, t0, "error injected")
        if LATENCY_S:
            STOP.wait(LATENCY_S)
        max_tokens = req.get("max_tokens") or req.get("max_completion_tokens")
        if path.endswith("chat/completions"):
            messages = req.get("messages") or []
            prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            text = _answer(prompt)
            choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            obj = "chat.completion"
        else:
            prompt = req.get("prompt", "")
            prompt = "\n".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)
            text = " " + _answer(prompt)
            choice = {"index": 0, "text": text, "logprobs": None}
            obj = "text_completion"
        words = text.split()
        finish = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            text = " ".join(words[:max_tokens])
            finish = "length"
            if "message" in choice:
                choice["message"]["content"] = text
            else:
                choice["text"] = " " + text
        choice["finish_reason"] = finish
        pt, ct = _tokens(prompt), _tokens(text)
        self._send(200, {
            "id": "cmpl-" + sha[:24], "object": obj, "created": int(t0),
            "model": model or MODEL_ID, "choices": [choice],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        })
        self._record(200, model, sha, t0)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    global _log_file
    if REQUEST_LOG:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(REQUEST_LOG)), exist_ok=True)
            _log_file = open(REQUEST_LOG, "a", buffering=1)
        except OSError as e:  # e.g. a bind mount not writable by this user: log to stdout only
            print(json.dumps({"event": "warning", "message": f"cannot open request log: {e}"}), flush=True)
    server = Server((HOST, PORT), Handler)

    def stop(signum, frame):
        STOP.set()  # wakes hanging and sleeping handlers
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"ts": round(time.time(), 3), "event": "listening", "host": HOST, "port": PORT,
                      "model": MODEL_ID, "startup_delay_s": STARTUP_DELAY_S, "never_ready": NEVER_READY,
                      "error_rate": ERROR_RATE, "error_code": ERROR_CODE, "hang_rate": HANG_RATE,
                      "latency_ms": LATENCY_S * 1000}), flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    print(json.dumps({"ts": round(time.time(), 3), "event": "stopped"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

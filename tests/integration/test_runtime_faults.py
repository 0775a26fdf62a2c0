"""Issue 10 #6 and #8 on a real engine: runtime failures say what happened, and named volumes.

* a target that refuses connections, or answers 4xx/5xx, is named with its URL and what it
  answered, in ``status`` and in ``up``'s own output, not as the interceptor's
  "No adapter interceptor returned response";
* ``up -d`` exits non-zero when the run cannot start (a host port taken by ``publish_port``,
  no GPU driver for a GPU reservation), with compose's whole error;
* named volumes the config asked for are listed by ``down`` and removed by ``down --volumes``.

The targets are tiny HTTP servers on loopback started by the test (host networking: tasks on a
localhost URL use the host network), so no traffic leaves the machine.
"""

from __future__ import annotations

import http.server
import socket
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from .conftest import docker

pytestmark = pytest.mark.docker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Answer(http.server.BaseHTTPRequestHandler):
    code = 500

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"error": "test target says no"}'
        self.send_response(self.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def answering():
    """Start a loopback HTTP server that answers every request with a given status; yields a starter."""
    servers = []

    def start(code: int) -> int:
        handler = type("Handler", (_Answer,), {"code": code})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _endpoint_config(ec, url: str, *, limit_samples: int = 2) -> Path:
    """A config with no deployment: the tasks call ``url`` directly."""
    doc = {"defaults": [{"execution": "local"}, {"deployment": "none"}, "_self_"],
           "execution": {"output_dir": str(ec.results)},
           "target": {"api_endpoint": {"url": url, "model_id": "standin"}},
           "evaluation": {"nemo_evaluator_config": {"config": {"params": {
               "limit_samples": limit_samples, "max_retries": 1, "request_timeout": 5}}},
               "tasks": [{"name": "arithmetic"}]}}
    path = ec.work / f"endpoint-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _failed_job(ec, inv: str) -> dict:
    st = ec.wait_finished(inv, timeout=120)
    [job] = st["jobs"]
    assert job["state"] == "FAILED", job
    return job


def test_refused_target_is_named_with_its_url(ec):
    url = f"http://127.0.0.1:{_free_port()}/v1/chat/completions"  # nothing listens there
    inv = ec.up_detached(_endpoint_config(ec, url))["invocation_id"]
    job = _failed_job(ec, inv)
    assert url in job["detail"] and "refused" in job["detail"], job["detail"]
    assert "No adapter interceptor" not in job["detail"]
    shown = ec.cli("status", inv, expect=0).stdout
    assert url in shown and "refused" in shown


@pytest.mark.parametrize("code", [503, 404])
def test_target_answering_an_error_status_is_named_with_url_and_status(ec, answering, code):
    url = f"http://127.0.0.1:{answering(code)}/v1/chat/completions"
    cfg = _endpoint_config(ec, url)
    result = ec.cli("up", str(cfg), timeout=180)  # attached: the user reads what failed at the end
    assert result.returncode != 0
    [(inv, _)] = ec.registered_runs().items()
    job = _failed_job(ec, inv)
    assert url in job["detail"] and f"HTTP {code}" in job["detail"], job["detail"]
    assert url in result.stdout + result.stderr and f"HTTP {code}" in result.stdout + result.stderr


def test_publish_port_taken_makes_up_detached_fail_with_the_whole_compose_error(ec):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = ec.config(tasks=["arithmetic"], set={"deployment.publish_port": port})
        result = ec.cli("up", str(cfg), "-d", timeout=180)
    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert str(port) in errors[0] and ("address already in use" in errors[0] or "already allocated" in errors[0]), errors[0]
    assert "Traceback" not in result.stderr


def test_no_gpu_driver_makes_up_detached_fail(ec):
    info = docker("info", "--format", "{{json .Runtimes}}").stdout
    if "nvidia" in info:
        pytest.skip("this engine has the NVIDIA runtime")
    cfg = ec.config(tasks=["arithmetic"], set={"deployment.gpus": 1})
    result = ec.cli("up", str(cfg), "-d", timeout=180)
    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "could not select device driver" in errors[0], result.stderr


def test_named_volumes_listed_by_down_and_removed_with_volumes(ec):
    name = f"evalcompose-test-{uuid.uuid4().hex[:8]}"
    cfg = ec.config(tasks=["arithmetic"], limit_samples=1,
                    set={"execution.extra_docker_args": f"-v {name}:/data"})
    inv = ec.up_detached(cfg)["invocation_id"]
    try:
        ec.wait_finished(inv, timeout=120)
        assert docker("volume", "inspect", name, check=False).returncode == 0
        out = ec.cli("down", inv, expect=0, timeout=120).stdout
        assert name in out, out
        assert docker("volume", "inspect", name, check=False).returncode == 0, "down alone keeps volumes"
        out = ec.cli("down", inv, "--volumes", expect=0, timeout=120).stdout
        assert name in out, out
        assert docker("volume", "inspect", name, check=False).returncode != 0, "down --volumes removes it"
    finally:
        docker("volume", "rm", "-f", name, check=False)

"""Issue 10 #6 and #7 without an engine: what failures say, and the scheduler's bookkeeping.

* :mod:`composer.diagnose` names the target and what it did from the adapter's log lines
  (the lines below are copied from real harness logs of this project's integration runs);
* :func:`composer.runtime.process.whole_error` keeps every line of compose's error;
* the scheduler's state files: a newer scheduler supersedes an older one, a dead one that did
  not finish needs reconciling, the newest log section is the one read.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from composer.diagnose import diagnose_log, diagnose_task, safe_url
from composer.runtime import scheduler
from composer.runtime.process import whole_error

REFUSED = ("[E 2026-12-02T01:00:40.542] Request interceptor EndpointInterceptor failed: HTTPConnectionPool("
           "host='127.0.0.1', port=9): Max retries exceeded with url: /v1/chat/completions (Caused by "
           "NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new connection: "
           "[Errno 111] Connection refused\")) logger=root model_name=standin request_id=7319d691\n"
           "[E 2026-12-02T01:00:40.544] Handler error: No adapter interceptor returned response logger=root\n")
UNRESOLVED = ("[E 2026-12-02T01:00:40.542] Request interceptor EndpointInterceptor failed: HTTPSConnectionPool("
              "host='nowhere.invalid', port=443): Max retries exceeded with url: /v1/completions (Caused by "
              "NameResolutionError(\"<urllib3.connection.HTTPSConnection>: Failed to resolve 'nowhere.invalid' "
              "([Errno -2] Name or service not known)\"))\n")


def _statuses(*codes: int) -> str:
    return "".join(f"[I 2026-12-02T01:01:05.934] Request completed status_code={c} path= logger=root\n" for c in codes)


def test_a_refused_connection_names_the_url_not_the_interceptor():
    said = diagnose_log(REFUSED + "evalcompose-bench: 2 of 2 requests failed\n")
    assert said == "target http://127.0.0.1:9/v1/chat/completions refused the connection"


def test_an_unknown_host_is_named_with_its_scheme():
    assert diagnose_log(UNRESOLVED) == "target https://nowhere.invalid:443/v1/completions could not be resolved (unknown host)"


def test_error_statuses_are_counted_and_named_with_the_configured_url():
    url = "http://127.0.0.1:18999/v1/chat/completions"
    assert diagnose_log(_statuses(503, 503, 503, 200), url) == \
        f"target {url} answered HTTP 503 Service Unavailable (3 of 4 requests)"
    assert diagnose_log(_statuses(404, 404, 429), url) == \
        f"target {url} answered HTTP 404 Not Found (2 of 3 requests), HTTP 429 (1)"


def test_a_healthy_log_says_nothing():
    assert diagnose_log(_statuses(200, 200) + "Handler error: something else\n") is None


def test_urls_lose_credentials_and_query():
    assert safe_url("https://user:s3cr3t@host:8443/v1/chat?api_key=s3cr3t#x") == "https://host:8443/v1/chat"
    said = diagnose_log(_statuses(401), "https://user:s3cr3t@host/v1/chat?key=s3cr3t")
    assert "s3cr3t" not in said and "https://host/v1/chat" in said


@given(st.text(max_size=300))
def test_any_log_text_gives_text_or_none(text):
    said = diagnose_log(text, "http://h:1/p")
    assert said is None or said.startswith(("target ", "the target "))


def test_diagnose_task_reads_the_log_tail_and_run_config(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "stdout.log").write_text("x" * 2_000_000 + "\n" + _statuses(500, 500), encoding="utf-8")
    (tmp_path / "run_config.yml").write_text("config:\n  type: t\ntarget:\n  api_endpoint:\n    model_id: m\n"
                                             "    url: http://10.0.0.1:8000/v1/completions\n", encoding="utf-8")
    assert diagnose_task(tmp_path) == \
        "target http://10.0.0.1:8000/v1/completions answered HTTP 500 Internal Server Error (2 of 2 requests)"
    assert diagnose_task(tmp_path / "missing") is None


def test_whole_error_keeps_every_line_but_progress_and_warnings():
    stderr = (" Container p-model-1  Creating\n Container p-model-1  Error\n"
              'time="2026-12-02T01:00:00Z" level=warning msg="a warning"\n'
              "Error response from daemon: failed to create task: first part\n"
              "caused by: second part of the same error\n")
    assert whole_error(stderr) == ("Error response from daemon: failed to create task: first part; "
                                   "caused by: second part of the same error")
    assert whole_error(" Container x-1  Error\n") == "Container x-1  Error"
    assert len(whole_error("e" * 5000)) == 2000


def test_scheduler_log_sections_and_started_containers(tmp_path):
    state = scheduler.state_dir(tmp_path)
    (state / "up.log").write_text(
        f"{scheduler.LOG_MARKER} old\n Container p-a-1  Created\nError response from daemon: old failure\n"
        f"{scheduler.LOG_MARKER} new\n Container p-model-1  Created\n Container p-model-1  Started\n"
        " Container p-a-1  Waiting\n", encoding="utf-8")
    assert scheduler.created_containers(tmp_path) == {"p-model-1"}
    assert scheduler.started_containers(tmp_path) == {"p-model-1", "p-a-1"}
    (state / "up.exit").write_text("1\n")
    assert "old failure" not in scheduler.state(tmp_path).error


def test_a_dead_scheduler_that_did_not_finish_needs_reconciling(tmp_path):
    assert not scheduler.needs_reconcile(tmp_path), "never launched (dry run): nothing to reconcile"
    state = scheduler.state_dir(tmp_path)
    (state / "up.pid").write_text("999999999")  # no such process
    assert not scheduler.state(tmp_path).alive and scheduler.state(tmp_path).launched
    assert scheduler.needs_reconcile(tmp_path)
    scheduler.mark_done(tmp_path)
    assert not scheduler.needs_reconcile(tmp_path)


def test_a_newer_scheduler_supersedes_the_older(tmp_path):
    state = scheduler.state_dir(tmp_path)
    (state / "up.token").write_text("aaaa")
    assert scheduler.is_current(tmp_path, "aaaa")
    (state / "up.token").write_text("bbbb")  # what start() of a resume writes
    assert not scheduler.is_current(tmp_path, "aaaa")

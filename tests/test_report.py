"""composer.report and ``evalcompose report``: a self-contained page, checked in real headless Chromium.

The Chromium tests skip when no Chromium is installed, but fail under CI=true (CI installs it:
``apt-get install -y chromium``).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from evalcompose_testlib import skip_or_fail

from composer.report import render_report, write_report
from composer.results import load_results

FIX = Path(__file__).parent / "fixtures" / "results"
RUNS = ["standin_complete", "standin_b_errors", "interrupted", "never_started"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def fixture_facts():
    """From the files: per run its model and invocation; per (run, task) the score values."""
    facts = []
    for name in RUNS:
        m = yaml.safe_load((FIX / name / "compose.yaml").read_text())["x-evalcompose"]
        values = {}
        for t in m["tasks"]:
            res = FIX / name / t["service"] / "artifacts" / "results.yml"
            if res.exists():
                doc = yaml.safe_load(res.read_text())["results"]["tasks"]
                values[t["task"]] = [s["value"] for td in doc.values() for md in td["metrics"].values()
                                     for s in md["scores"].values()]
        facts.append({"name": name, "invocation": m["invocation_id"], "model": m["tasks"][0]["model_id"],
                      "tasks": [t["task"] for t in m["tasks"]], "values": values})
    return facts


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def runs():
    return load_results([str(FIX / n) for n in RUNS])


def expected_bars(facts) -> int:
    return sum(len(v) for f in facts for v in f["values"].values())


def test_page_is_self_contained_and_shows_every_run(runs, tmp_path):
    out = tmp_path / "sub" / "report.html"
    html = render_report(runs, out)
    doc = parse(html)
    assert not [t for t, a in doc.tags if t in ("script", "link", "img", "iframe")]
    for tag, attrs in doc.tags:
        for attr in ("src", "href"):
            assert not str(attrs.get(attr, "")).startswith(("http:", "https:", "//")), (tag, attrs)
    assert "@import" not in html and "url(" not in html
    text = " ".join(doc.text)
    facts = fixture_facts()
    for f in facts:
        assert f["model"] in text and f["invocation"] in text
        for task, values in f["values"].items():
            for v in values:
                assert f"{v:.4g}" in text
    assert "missing results.yml" in text and "never started" in text
    svgs = [a for t, a in doc.tags if t == "svg"]
    tasks_with_scores = {t for f in facts for t in f["values"]}
    assert len(svgs) == len(tasks_with_scores) + 1  # one per task, one latency chart
    bars = [a for t, a in doc.tags if t == "rect" and a.get("class") == "bar"]
    assert len(bars) == expected_bars(facts)
    assert sorted(float(a["data-value"]) for a in bars) == sorted(v for f in facts for vs in f["values"].values() for v in vs)


def test_links_are_relative_and_resolve(runs, tmp_path):
    out = tmp_path / "sub" / "report.html"
    doc = parse(render_report(runs, out))
    hrefs = [a["href"] for t, a in doc.tags if t == "a"]
    assert hrefs and all(not h.startswith("/") and "://" not in h for h in hrefs)
    for h in hrefs:
        assert (out.parent / h).resolve().exists(), h
    reports = [a["href"] for t, a in doc.tags if t == "a" and a.get("class") == "task-report"]
    assert len(reports) == len(list(FIX.glob("*/*/artifacts/report.html")))


def test_links_without_output_path_are_file_uris(runs):
    doc = parse(render_report(runs))
    assert all(a["href"].startswith("file://") for t, a in doc.tags if t == "a")


def test_cli_report_writes_the_file(tmp_path):
    from typer.testing import CliRunner

    from composer.cli import app

    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", *[str(FIX / n) for n in RUNS[:2]], "-o", str(out), "--title", "Compare"])
    assert res.exit_code == 0, res.output
    assert "<title>Compare</title>" in out.read_text()


# ---------------------------------------------------------------------------------------- Chromium


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    skip_or_fail("Chromium not installed (apt-get install -y chromium)")


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def written(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(runs, out)
    return out


def test_chromium_renders_the_scores_and_charts(written, tmp_path):
    browser = chromium()
    proc = run_chromium(browser, tmp_path / "profile", "--dump-dom", written.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    doc = parse(dom)
    facts = fixture_facts()
    # the browser built the SVG elements we wrote: nothing was dropped or re-parented
    assert len([a for t, a in doc.tags if t == "svg"]) == len({t for f in facts for t in f["values"]}) + 1
    bars = [a for t, a in doc.tags if t == "rect" and a.get("class") == "bar"]
    assert len(bars) == expected_bars(facts)
    text = " ".join(doc.text)
    for f in facts:
        assert f["model"] in text
        for values in f["values"].values():
            for v in values:
                assert f"{v:.4g}" in text
    for heading in ("Runs", "Incomplete tasks", "Scores", "Scores by task", "Requests, latency and tokens",
                    "Per-task reports"):
        assert re.search(rf"<h2[^>]*>{re.escape(heading)}</h2>", dom)
    assert "no score: partial" in text and "missing results.yml" in text


def test_chromium_screenshot_is_not_blank(written, tmp_path):
    browser = chromium()
    shot = tmp_path / "shot.png"
    proc = run_chromium(browser, tmp_path / "profile", "--window-size=1280,1600", f"--screenshot={shot}",
                        written.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
    # decode the image data: a page with tables and coloured bars has many distinct byte values
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    pixels = zlib.decompress(idat)
    assert len(set(pixels)) > 50


def test_every_value_is_escaped(runs):
    """Titles, notes and labels come from configs and files: the template escapes them all."""
    import dataclasses

    from composer.report import render_report

    hostile = "<script>x</script>\"'&"
    run = runs[0]
    task = dataclasses.replace(run.tasks[0], task=hostile, notes=[hostile], status="partial")
    html = render_report([dataclasses.replace(run, tasks=[task, *run.tasks[1:]])], title=hostile)
    assert "<script" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;") >= 3  # title, heading and the task's rows

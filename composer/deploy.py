"""PURE: ``deployment`` -> the one model service every task of an invocation shares.

The server's command line is the launcher's: ``deployment.command``, which the shipped groups
build from the other keys (``vllm serve <model> --tensor-parallel-size=...``), run with the
image's entrypoint cleared. What differs per server (health path, GPU and IPC needs, where its
cache lives, which token it reads) is in ``SERVERS``.

Secrets reach the server exactly as they reach tasks: as Compose secrets (files in
``/run/secrets``), never in ``model.env`` or ``docker inspect``. The service's entrypoint is
``evalcompose-model.sh`` (mounted read-only), which exports the secrets named in
``EVALCOMPOSE_SECRETS`` and then runs the server's command line with ``/bin/sh -c``, so every
server's own entrypoint script still works. A ``lit:`` value under a secret-looking name is
delivered the same way: from the environment of ``up`` (variable ``EVALCOMPOSE_LIT_<NAME>``),
never written to a file.

``deployment: llamacpp`` (llama.cpp's llama-server) is the one server whose command line
evalcompose builds itself when the config has none (:func:`llamacpp_command`): its ``--parallel``
slots depend on the tasks that share it, which only the plan knows (:func:`with_slots`).

The service publishes no host port unless ``deployment.publish_port`` asks for one; tasks reach
it as ``http://model:<port>`` on the project network and wait for its healthcheck, which gives
the server ``execution.endpoint_readiness_timeout`` seconds to load before a failure counts.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import EvalConfig
from .config.docker_args import looks_secret
from .config.envspec import parse_env_spec
from .errors import ConfigError
from .paths import host_path

SERVICE = "model"
ENTRYPOINT = "/evalcompose/model.sh"  # where evalcompose-model.sh is mounted
LITERAL_PREFIX = "EVALCOMPOSE_LIT_"  # host variable that carries a lit: secret from the config at up time
CACHE_VOLUME = "model-cache"  # named evalcompose-model-cache (layout.MODEL_CACHE_VOLUME): shared, kept by down


@dataclass(frozen=True)
class Server:
    gpus: bool
    ipc_host: bool
    cache_target: str | None
    token_vars: tuple[str, ...]


SERVERS = {
    "vllm": Server(True, True, "/root/.cache/huggingface", ("HF_TOKEN",)),
    "sglang": Server(True, True, "/root/.cache/huggingface", ("HF_TOKEN",)),
    "trtllm": Server(True, True, "/root/.cache/huggingface", ("HF_TOKEN",)),
    "nim": Server(True, False, "/opt/nim/.cache", ("NGC_API_KEY",)),
    "generic": Server(False, False, None, ()),
    "llamacpp": Server(False, False, "/root/.cache/llama.cpp", ("HF_TOKEN",)),  # -hf downloads land there
}
LLAMA_SERVER = "/app/llama-server"  # in ghcr.io/ggml-org/llama.cpp:server* and evalcompose/llama-server
CHECKPOINT = "/checkpoint"  # where checkpoint_path is mounted (read-only)


@dataclass(frozen=True)
class ModelPlan:
    """The model service: what to run and how to tell it is ready."""

    kind: str
    image: str
    command: str
    served_model_name: str
    port: int
    health_path: str
    endpoints: dict[str, str]
    readiness_timeout: int
    health_interval: int
    gpus: str | None  # "all", a count, or None
    ipc_host: bool
    shm_size: str | None
    volumes: tuple[tuple[str, str, bool], ...]  # (host path or CACHE_VOLUME, container path, read-only)
    env: dict[str, str]  # literal values
    secrets: dict[str, str]  # container variable -> host variable (required), delivered as compose secrets
    optional: tuple[str, ...]  # host variables passed through when set at up time (HF_TOKEN, NGC_API_KEY)
    publish_port: int | None
    literal_secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Host variable -> value, for ``lit:`` secrets: put into the environment of ``up``, never on disk."""
    slots: int | None = None  # llamacpp: --parallel (None: not sized yet, or another server)
    checkpoint: str | None = None  # deployment.checkpoint_path on the host (absolute), mounted at CHECKPOINT

    def with_available(self, environ: dict[str, str]) -> ModelPlan:
        """The optional tokens that ``environ`` sets become secrets; the others are dropped.

        An unset variable behind a compose secret makes ``docker compose up`` fail, so an
        optional token (HF_TOKEN for a public model) is only wired in when it is there.
        """
        present = {name: name for name in self.optional if environ.get(name)}
        return replace(self, secrets={**self.secrets, **present}, optional=())

    def url_for(self, endpoint_type: str) -> str:
        path = self.endpoints.get(endpoint_type) or self.endpoints["chat"]
        return f"http://{SERVICE}:{self.port}{path}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.health_path}"


def plan_model(cfg: EvalConfig, cwd: Path, home: Path | None = None) -> ModelPlan:
    """The model service for ``cfg.deployment`` (not ``none``)."""
    d = cfg.deployment
    server = SERVERS[d.type]
    built = d.type == "llamacpp" and not d.command  # evalcompose writes the command line
    if built and not (d.checkpoint_path or d.hf_model_handle):
        raise ConfigError("deployment.checkpoint_path", "llamacpp needs a GGUF model",
                          hint="set deployment.checkpoint_path to a .gguf file on this host, or deployment.hf_model_handle"
                               " (for the offline example: evalcompose models fetch smollm2)")
    for key in ("image", "served_model_name") + (() if built else ("command",)):
        if not getattr(d, key):
            raise ConfigError(f"deployment.{key}", f"is required for deployment: {d.type}",
                              hint=f"set deployment.{key} in the config or with -o deployment.{key}=...")
    volumes = []
    if d.checkpoint_path:
        volumes.append((host_path(d.checkpoint_path, cwd, home), CHECKPOINT, True))
    if server.cache_target:
        source = host_path(d.cache_path, cwd, home) if d.cache_path else CACHE_VOLUME
        volumes.append((source, server.cache_target, False))
    volumes += [(host_path(src, cwd, home), dst, False) for src, dst in cfg.execution.mounts.deployment.items()]
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    literal: dict[str, str] = {}
    for name, spec in {**cfg.env_vars, **d.env_vars}.items():
        where = f"deployment.env_vars.{name}" if name in d.env_vars else f"env_vars.{name}"
        parsed = parse_env_spec(spec, where)
        if parsed.host_variable is None and looks_secret(name):
            secrets[name] = f"{LITERAL_PREFIX}{name}"
            literal[f"{LITERAL_PREFIX}{name}"] = parsed.value
        elif parsed.host_variable is None:
            env[name] = parsed.value
        else:
            secrets[name] = parsed.host_variable
    optional = tuple(name for name in server.token_vars if name not in secrets)
    gpus = {"auto": _auto_gpus(d, server), "none": None}.get(str(d.gpus), str(d.gpus))
    endpoints = {"chat": d.endpoints.chat, "completions": d.endpoints.completions, "vlm": d.endpoints.chat,
                 "embedding": d.endpoints.embedding or "/v1/embeddings"}  # OpenAI's path when the group names none
    assert d.image and d.served_model_name and (built or d.command)  # checked above
    command = "" if built or not d.command else (" ".join(d.command.split()) if "\n" not in d.command.strip()
                                                 else d.command)
    return ModelPlan(kind=d.type, image=d.image, command=command, served_model_name=d.served_model_name, port=d.port,
                     health_path=d.endpoints.health, endpoints=endpoints,
                     readiness_timeout=cfg.execution.endpoint_readiness_timeout, health_interval=d.health_interval,
                     gpus=gpus, ipc_host=server.ipc_host and not d.shm_size, shm_size=d.shm_size,
                     volumes=tuple(volumes), env=env, secrets=secrets, optional=optional, publish_port=d.publish_port,
                     literal_secrets=literal,
                     checkpoint=host_path(d.checkpoint_path, cwd, home) if d.checkpoint_path else None)


def _auto_gpus(d, server: Server) -> str | None:
    """GPUs to reserve by default: what the parallel sizes use (vLLM, SGLang, TRT-LLM), all for NIM."""
    if d.type == "llamacpp":
        return "all" if d.gpu_layers else None
    if not server.gpus:
        return None
    if d.type == "nim":
        return "all"
    return str(d.tensor_parallel_size * d.pipeline_parallel_size * max(d.data_parallel_size, 1))


def peak_concurrency(parallelisms: list[int], lanes: int | None) -> int:
    """Requests the tasks can have in flight at once: the sum of the ``lanes`` largest
    parallelisms (every task's when ``lanes`` is None: all run at once)."""
    ranked = sorted((max(p, 1) for p in parallelisms), reverse=True)
    return max(sum(ranked[:lanes] if lanes else ranked), 1)


def with_slots(model: ModelPlan, cfg: EvalConfig, concurrency: int) -> ModelPlan:
    """``model`` with its llama-server slots sized (``deployment.parallel``, or ``concurrency``
    for ``auto``) and, when the config gave no command, its command line written."""
    d = cfg.deployment
    if model.kind != "llamacpp":
        return model
    slots = concurrency if d.parallel == "auto" else int(d.parallel)
    command = model.command or llamacpp_command(cfg, slots)
    return replace(model, slots=slots, command=command)


def llamacpp_command(cfg: EvalConfig, slots: int) -> str:
    """llama-server's command line for ``cfg.deployment`` with ``slots`` slots (one line; it runs
    under ``/bin/sh -c``, so the config's values are shell-quoted; ``extra_args`` is shell text)."""
    d = cfg.deployment
    source = f"-hf {shlex.quote(d.hf_model_handle)}" if d.hf_model_handle else f"-m {CHECKPOINT}"
    words = [LLAMA_SERVER, "--host 0.0.0.0", f"--port {d.port}", source, f"--alias {shlex.quote(d.served_model_name or '')}",
             f"--parallel {slots}", f"--ctx-size {d.slot_context * slots}"]
    if d.threads:
        words.append(f"--threads {d.threads}")
    if d.gpu_layers is not None:
        words.append(f"--n-gpu-layers {d.gpu_layers}")
    if d.extra_args.strip():
        words.append(" ".join(d.extra_args.split()))
    return " ".join(words)

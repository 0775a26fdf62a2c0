"""The validated shape of an evalcompose (= nemo-evaluator-launcher 0.2.6 local) config.

Loading turns both the seed documents' form and release 0.2.6's form into these models
(see :mod:`composer.config.legacy`). Every model forbids unknown keys, so a typo is an error
that names its key path and suggests the nearest known key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EndpointType = Literal["chat", "completions", "embedding", "vlm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())  # model_id is a field


class ApiEndpoint(_Strict):
    """``target.api_endpoint``: the OpenAI-compatible endpoint under evaluation."""

    model_id: str | None = None
    url: str | None = None
    api_key_name: str | None = Field(default=None, description="NAME of the host variable holding the key")
    type: EndpointType | None = None
    stream: bool | None = None
    adapter_config: dict[str, Any] | None = None

    @field_validator("api_key_name")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _is_env_name(v):
            raise ValueError("must be the NAME of an environment variable (letters, digits, _), not its value")
        return v


class Target(_Strict):
    api_endpoint: ApiEndpoint = ApiEndpoint()


class Task(_Strict):
    """One entry of ``evaluation.tasks``."""

    name: str
    nemo_evaluator_config: dict[str, Any] = {}
    env_vars: dict[str, str] = {}
    container: str | None = None
    endpoint_type: EndpointType | None = None
    dataset_dir: str | None = None
    dataset_mount_path: str = "/datasets"
    pre_cmd: str | None = None
    post_cmd: str | None = None
    build: bool | None = Field(default=None, description="build the harness image from PyPI instead of pulling it")


class Evaluation(_Strict):
    """``evaluation``: settings shared by every task, and the task list."""

    nemo_evaluator_config: dict[str, Any] = {}
    env_vars: dict[str, str] = {}
    tasks: list[Task] = Field(min_length=1)
    pre_cmd: str | None = None
    post_cmd: str | None = None
    build: bool = Field(default=False, description="build every harness image from PyPI instead of pulling it")


ExportDestination = Literal["local", "mlflow", "wandb", "gsheets"]


class AutoExport(_Strict):
    """``execution.auto_export``: export each task when it ends successfully."""

    destinations: list[ExportDestination] = []
    configs: dict[ExportDestination, dict[str, Any]] = Field(default={}, description="older form of export:")


class Export(_Strict):
    """The top-level ``export:`` section: one mapping per destination, the launcher's exporter settings.

    Read by ``evalcompose export`` and by auto-export; keys inside a destination are the launcher's
    (``tracking_uri``, ``experiment_name``, ``log_metrics``, ``entity``, ``project``, ``format``, ...).
    """

    local: dict[str, Any] | None = None
    mlflow: dict[str, Any] | None = None
    wandb: dict[str, Any] | None = None
    gsheets: dict[str, Any] | None = None
    env_vars: dict[str, str] = Field(default={}, description="the exporters' environment (host:NAME / lit:VALUE)")


class Mounts(_Strict):
    """``execution.mounts``: extra bind mounts, ``{host path: container path[:ro]}``, into the model
    server (``deployment``) and into every task container (``evaluation``)."""

    deployment: dict[str, str] = {}
    evaluation: dict[str, str] = {}


class Execution(_Strict):
    """``execution``: how and where the tasks run (evalcompose supports ``local`` only)."""

    type: Literal["local"] = "local"
    output_dir: str
    mode: Literal["parallel", "sequential"] = "parallel"
    max_parallel: int | None = Field(default=None, ge=1)
    extra_docker_args: str = ""
    endpoint_readiness_timeout: int = Field(default=600, ge=1)
    user: str | None = Field(default=None, description='numeric "UID:GID" for task containers; default: yours')
    telemetry: bool = False
    auto_export: AutoExport | None = None
    mounts: Mounts = Mounts()



class Endpoints(_Strict):
    chat: str = "/v1/chat/completions"
    completions: str = "/v1/completions"
    health: str = "/health"
    embedding: str | None = None
    ranking: str | None = None


class Deployment(_Strict):
    """``deployment``: the model server co-deployed in the project (``type: none`` for none).

    Keys follow the launcher's deployment groups; ``command`` is the server's command line
    (the groups build it from the other keys), run with the image's entrypoint cleared.
    """

    type: Literal["none", "vllm", "sglang", "nim", "trtllm", "generic", "llamacpp"] = "none"
    image: str | None = None
    command: str | None = None
    base_command: str | None = None
    served_model_name: str | None = None
    hf_model_handle: str | None = None
    checkpoint_path: str | None = None
    cache_path: str | None = None
    port: int = 8000
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    extra_args: str = ""
    env_vars: dict[str, str] = {}
    endpoints: Endpoints = Endpoints()
    gpus: int | Literal["all", "none", "auto"] = Field(default="auto", description="auto: all for GPU servers, none for generic")
    shm_size: str | None = None
    publish_port: int | None = Field(default=None, description="host port to publish the server on; none by default")
    health_interval: int = Field(default=5, ge=1)
    # llamacpp (llama.cpp's llama-server): see composer/config/groups/deployment/llamacpp.yaml
    parallel: int | Literal["auto"] = Field(default="auto", description="server slots; auto: what the tasks send at once")
    slot_context: int = Field(default=4096, ge=16, description="context tokens of ONE slot (one request)")
    threads: int | None = Field(default=None, ge=1, description="CPU threads; none: the server's default")
    gpu_layers: int | None = Field(default=None, ge=0, description="layers offloaded to the GPU (-ngl)")


class EvalConfig(_Strict):
    """A whole, validated config."""

    execution: Execution
    target: Target = Target()
    evaluation: Evaluation
    deployment: Deployment = Deployment()
    env_vars: dict[str, str] = Field(default={}, description="applied to every task and the model server")
    auxiliary_deployments: dict[str, Any] = {}
    export: Export = Export()

    @field_validator("auxiliary_deployments")
    @classmethod
    def _no_aux(cls, v: dict) -> dict:
        if v:
            raise ValueError("auxiliary deployments are not supported yet: co-deploy one model per invocation")
        return v


def _is_env_name(name: str) -> bool:
    return name.replace("_", "a").isalnum() and not name[0].isdigit()

"""Config loading: launcher-compatible YAML in, validated :class:`EvalConfig` out."""

from .loader import LoadedConfig, load_config, locate
from .models import Deployment, EvalConfig, Execution, Task

__all__ = ["Deployment", "EvalConfig", "Execution", "LoadedConfig", "Task", "load_config", "locate"]

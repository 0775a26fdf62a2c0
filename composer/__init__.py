"""evalcompose: run LLM evaluations (nemo-evaluator harness containers) as Docker Compose projects.

The data flows one way: config -> plan -> compose render -> files on disk -> runtime -> results.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

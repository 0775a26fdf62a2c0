"""evalcompose built-in benchmarks: a nemo-evaluator framework named `evalcompose_bench`.

Tasks (see framework.yml): `arithmetic` (chat endpoint) and `arithmetic_completions`
(completions endpoint): deterministic arithmetic questions generated in code, scored by
exact match of the final number in the reply. No network access other than the model
endpoint, no datasets to download.
"""

__version__ = "0.1.0"

"""nemo-evaluator output parser for evalcompose_bench: turns the runner's raw results
(<output_dir>/evalcompose_bench/results.json) into an EvaluationResult, from which
nemo-evaluator writes <output_dir>/results.yml."""

import json
import os

from nemo_evaluator.api.api_dataclasses import EvaluationResult


def parse_output(output_dir: str) -> EvaluationResult:
    path = os.path.join(output_dir, "evalcompose_bench", "results.json")
    with open(path) as f:
        raw = json.load(f)
    task = raw["task"]
    return EvaluationResult(
        tasks={task: {"metrics": raw["metrics"]}},
        groups={task: {"metrics": raw["metrics"]}},
    )

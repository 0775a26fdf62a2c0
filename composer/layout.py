"""Names of the files and folders in a run folder, shared by the writer and the readers.

    <output_dir>/<YYYYmmdd_HHMMSS>-<invocation_id>/
      compose.yaml            the project (x-evalcompose: metadata, format version)
      config.yaml             the resolved config (names of secrets only)
      evalcompose-task.sh     entrypoint of every task container
      RERUN.md                how to rerun with plain docker compose
      model.env               model server settings (when co-deployed; no secret values)
      evalcompose-model.sh    entrypoint of the model container (exports its compose secrets)
      .evalcompose/           evalcompose's own state: scheduler pid/log/exit code, kill markers
      <task>/run_config.yml   what nemo-evaluator run_eval reads
      <task>/task.env         non-secret settings of the task
      <task>/artifacts/       mounted at /results: results.yml, eval_factory_metrics.json, cache/, ...
      <task>/logs/stdout.log  the task's output, written with nobody following
"""

COMPOSE_FILE = "compose.yaml"
RESUME_FILE = "compose.resume.yaml"
ENTRYPOINT_FILE = "evalcompose-task.sh"
STATE_DIR = ".evalcompose"
ARTIFACTS = "artifacts"
LOGS = "logs"
KILLED_MARKER = "killed"
INTERRUPTED_MARKER = ".nemo_evaluator_interrupted"
MODEL_CACHE_VOLUME = "evalcompose-model-cache"  # the model servers' cache volume, shared by every run

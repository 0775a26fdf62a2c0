# pre_cmd of task lm-evaluation-harness.ifeval, from the config
echo starting

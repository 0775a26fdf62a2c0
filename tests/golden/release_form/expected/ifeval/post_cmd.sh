# post_cmd of task lm-evaluation-harness.ifeval, from the config
ls /results

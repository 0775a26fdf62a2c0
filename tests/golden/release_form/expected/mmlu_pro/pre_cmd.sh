# pre_cmd of task simple_evals.mmlu_pro, from the config
echo starting

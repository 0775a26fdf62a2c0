# pre_cmd of task ifbench.ifbench, from the config
export OPENAI_API_KEY=llama-server-takes-no-key

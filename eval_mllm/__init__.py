"""openeyes.eval_mllm: score encoders and MLLMs exactly like the reference implementations."""

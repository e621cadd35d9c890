"""openeyes.integrations: put any encoder into a LLaVA-style MLLM, retrain, export."""

"""openeyes.serving: the BentoML service, its index store, OpenAI routes and Gradio UI."""

"""Recipes: wire data, a model, objectives and the core trainer into one training run."""

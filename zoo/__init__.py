"""openeyes.zoo: recipes and shipped weights of the embedded default models (data only)."""

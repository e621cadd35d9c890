"""Training objectives, one module each; ``REGISTRY`` maps a config name to its class."""

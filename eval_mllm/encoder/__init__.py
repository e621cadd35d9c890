"""Encoder benchmarks: MMVP-VLM, zero-shot classification, retrieval, clustering, affinity.

``scoring/`` holds the pure metrics, ``data/`` the loaders for the real layouts,
``benchmarks.py`` ties them to an encoder, ``runner.py`` is the entry point
(``evaluate_encoder`` for Python callers, ``evaluate_to_artifacts`` for the CLI).
"""


def __getattr__(name: str):
    """``from openeyes.eval_mllm.encoder import evaluate_encoder`` without importing torch early."""
    if name == "evaluate_encoder":
        from openeyes.eval_mllm.encoder.runner import evaluate_encoder

        return evaluate_encoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

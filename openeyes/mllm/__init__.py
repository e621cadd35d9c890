"""MLLM inference in the core: the small ``MLLM`` protocol and its local transformers backend.

``protocol`` (MLLM, GenerationRequest, SamplingParams), ``loading`` (an mllm artifact or
transformers Llava directory -> model + processor), ``local`` (TransformersMLLM: batched
generation with left padding, greedy and sampling, stop strings). Eval and serving use these;
an OpenAI-compatible HTTP backend fits the same protocol.
"""
from __future__ import annotations

_EXPORTS = {
    "MLLM": "openeyes.mllm.protocol",
    "GenerationRequest": "openeyes.mllm.protocol",
    "SamplingParams": "openeyes.mllm.protocol",
    "TransformersMLLM": "openeyes.mllm.local",
    "load_mllm": "openeyes.mllm.loading",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'openeyes.mllm' has no attribute {name!r}")

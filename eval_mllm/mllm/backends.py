"""Which MLLM backend a ``--model`` spec names, and loading it for evaluation.

- ``http://...`` / ``https://...``: an OpenAI-compatible chat endpoint (vLLM, ``openeyes serve``)
  -> ``openeyes.mllm.openai_backend.OpenAIChatMLLM``;
- ``zoo:NAME``, an ``mllm`` artifact or a transformers Llava directory (or a cached hub id)
  -> ``openeyes.mllm.local.TransformersMLLM`` with batched, left-padded generation.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from openeyes.errors import UserError


def is_endpoint(spec: str) -> bool:
    return str(spec).startswith(("http://", "https://"))


def resolve_device(device: str, local_rank: int = 0) -> str:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is there, else ``cpu``."""
    import torch

    if device == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available")
    return device


def load_mllm_for_eval(spec: str, *, batch_size: int = 8, device: str = "auto", local_rank: int = 0,
                       model_name: str | None = None, api_key: str | None = None, timeout: float = 120.0) -> Any:
    """An object speaking the ``MLLM`` protocol for ``spec`` (see the module docstring)."""
    if is_endpoint(spec):
        from openeyes.mllm.openai_backend import OpenAIChatMLLM

        return OpenAIChatMLLM(spec, model=model_name, api_key=api_key or os.environ.get("OPENAI_API_KEY"),
                              timeout=timeout, concurrency=batch_size)
    from openeyes.mllm.local import TransformersMLLM
    from openeyes.zoo_registry import resolve

    path = resolve(str(spec))
    if not Path(path).expanduser().exists() and "/" not in path:
        raise UserError(f"MLLM {spec!r} is neither a directory, a zoo:NAME, nor an http(s):// endpoint")
    return TransformersMLLM.from_pretrained(path, device=resolve_device(device, local_rank), batch_size=batch_size)

"""One evaluation run's encoder, options and embedding cache.

Zero-shot and clustering read the same classification images, retrieval and affinity the
same retrieval images and captions: within one run each is embedded once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from openeyes.eval_mllm.encoder.data.images import ImageStore
from openeyes.eval_mllm.encoder.embed import embed_images, embed_texts
from openeyes.eval_mllm.encoder.options import EncoderEvalOptions


@dataclass
class EvalContext:
    encoder: object                                  # follows openeyes.encoders.protocol.Encoder
    options: EncoderEvalOptions
    cache: dict[tuple, torch.Tensor] = field(default_factory=dict)

    def images(self, key: str, store: ImageStore) -> torch.Tensor:
        """[N, D] embeddings of ``store``, cached under ``key`` (e.g. the data path)."""
        cache_key = ("images", key)
        if cache_key not in self.cache:
            self.cache[cache_key] = embed_images(self.encoder, store, self.options.batch_size)
        return self.cache[cache_key]

    def texts(self, texts: Sequence[str]) -> torch.Tensor:
        """[T, D] embeddings of ``texts``, cached by their content."""
        cache_key = ("texts", tuple(texts))
        if cache_key not in self.cache:
            self.cache[cache_key] = embed_texts(self.encoder, texts, self.options.batch_size)
        return self.cache[cache_key]

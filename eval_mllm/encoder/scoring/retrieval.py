"""Zero-shot retrieval as CLIP_benchmark scores it (``metrics/zeroshot_retrieval.py``).

``scores = texts x images`` over L2-normalised embeddings, ``positive[t, image(t)] = True``.
``image_retrieval_recall@k`` (text -> image): 1 if the text's image is in its top k, averaged
over texts. ``text_retrieval_recall@k`` (image -> text): 1 if any of the image's captions is in
its top k, averaged over images (an image without captions counts as a miss, as 0/0 > 0 is
false in the reference). Images may have any number of captions.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

DEFAULT_RECALL_K = (1, 5, 10)


def similarity(text_emb: torch.Tensor, image_emb: torch.Tensor) -> torch.Tensor:
    """Cosine scores [T, I] of texts [T, D] against images [I, D]."""
    return F.normalize(text_emb.float(), dim=-1) @ F.normalize(image_emb.float(), dim=-1).T


def positive_pairs(text_to_image: Sequence[int], n_images: int) -> torch.Tensor:
    """Boolean [T, I]: text t describes image text_to_image[t]."""
    index = torch.as_tensor(list(text_to_image), dtype=torch.long)
    positive = torch.zeros(len(index), n_images, dtype=torch.bool)
    positive[torch.arange(len(index)), index] = True
    return positive


def hit_at_k(scores: torch.Tensor, positive: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """[Q] bool: some positive is among the top-k candidates of query q (rows of ``scores``)."""
    k = min(k, scores.shape[1])
    hits = []
    for start in range(0, scores.shape[0], chunk):
        top = scores[start:start + chunk].topk(k, dim=1).indices  # [q, k]
        hits.append(positive[start:start + chunk].gather(1, top).any(dim=1))
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)


def retrieval_metrics(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    text_to_image: Sequence[int],
    recall_k: Sequence[int] = DEFAULT_RECALL_K,
) -> dict[str, float]:
    """Recall@k in both directions; k larger than the candidate count is clamped (recall 1)."""
    scores = similarity(text_emb, image_emb)  # [T, I]
    positive = positive_pairs(text_to_image, image_emb.shape[0])  # [T, I]
    metrics = {}
    for k in recall_k:
        metrics[f"image_retrieval_recall@{k}"] = hit_at_k(scores, positive, k).double().mean().item()
        metrics[f"text_retrieval_recall@{k}"] = hit_at_k(scores.T, positive.T, k).double().mean().item()
    return metrics


def rank_of_first_positive(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """[Q] 1-based rank of the best-scored positive (candidates scoring strictly higher + 1).

    Informative only (the predictions file); the metrics use ``topk`` like the reference.
    """
    best = scores.masked_fill(~positive, float("-inf")).max(dim=1).values  # [Q]
    return (scores > best.view(-1, 1)).sum(dim=1) + 1

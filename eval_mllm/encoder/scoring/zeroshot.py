"""Zero-shot classification as CLIP_benchmark scores it (``metrics/zeroshot_classification.py``).

Class weights: ``w_c = normalize(mean_t normalize(encode_text(template_t.format(c=classname))))``;
a dict of templates holds class-specific prompts (CuPL), used as written. Logits:
``100 * normalize(image_emb) @ W``. Metrics: ``acc1``, ``acc5`` (top-k hits; NaN with fewer
than 5 classes) and ``mean_per_class_recall`` (``sklearn.metrics.balanced_accuracy_score``).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from openeyes.errors import UserError

Templates = Union[Sequence[str], Mapping[str, Sequence[str]]]


def prompts_for_class(classname: str, templates: Templates) -> list[str]:
    """The prompts of one class: each template formatted with ``c=classname``, or, for a dict
    of class-specific prompts (CuPL), that class's prompts as written (as the reference does)."""
    if isinstance(templates, Mapping):
        if classname not in templates:
            raise UserError(f"class-specific templates have no entry for class {classname!r}")
        prompts = list(templates[classname])
    else:
        prompts = [template.format(c=classname) for template in templates]
    if not prompts:
        raise UserError(f"no templates for class {classname!r}")
    return prompts


def class_weights(per_class_text_emb: Sequence[torch.Tensor]) -> torch.Tensor:
    """One [T_c, D] tensor of prompt embeddings per class -> classifier weights [D, C]."""
    columns = []
    for text_emb in per_class_text_emb:  # [T_c, D]
        mean = F.normalize(text_emb.float(), dim=-1).mean(dim=0)  # [D]
        columns.append(mean / mean.norm())
    return torch.stack(columns, dim=1)  # [D, C]


def zeroshot_logits(image_emb: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Image embeddings [N, D] and weights [D, C] -> logits [N, C] (scale 100, as the reference)."""
    return 100.0 * F.normalize(image_emb.float(), dim=-1) @ weights


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """[N] bool: the label is among the top-k logits (torch.topk, largest, sorted)."""
    top = logits.topk(k, dim=1, largest=True, sorted=True).indices  # [N, k]
    return (top == labels.view(-1, 1)).any(dim=1)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """acc1, acc5 (NaN if C < 5) and mean_per_class_recall over logits [N, C] and labels [N]."""
    from sklearn.metrics import balanced_accuracy_score

    labels = torch.as_tensor(labels, dtype=torch.long)
    n_classes = logits.shape[1]
    acc1 = topk_hits(logits, labels, 1).double().mean().item()
    acc5 = topk_hits(logits, labels, 5).double().mean().item() if n_classes >= 5 else math.nan
    predicted = logits.argmax(dim=1).numpy()
    return {
        "acc1": acc1,
        "acc5": acc5,
        "mean_per_class_recall": float(balanced_accuracy_score(labels.numpy(), predicted)),
    }


def per_class_recall(logits: torch.Tensor, labels: torch.Tensor, classnames: Sequence[str]) -> dict[str, dict[str, float]]:
    """Recall (top-1) and support of every class that has samples."""
    labels_np = np.asarray(labels)
    predicted = logits.argmax(dim=1).numpy()
    table = {}
    for index, name in enumerate(classnames):
        mask = labels_np == index
        if mask.any():
            table[name] = {"recall": float((predicted[mask] == index).mean()), "n": int(mask.sum())}
    return table

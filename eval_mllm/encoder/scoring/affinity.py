"""SaCo's affinity-consistency metric (Wu et al., CVPR 2024, Eq. 2-4), written from the paper.

For L2-normalised embeddings of N paired images I and texts T:
  Eq. 2   S^I_{i,j} = <I_i, I_j>,  S^T_{i,j} = <T_i, T_j>
  Eq. 3   rho(U, V) = sum_c (U_c - mean U)(V_c - mean V) / sqrt(sum_c (U_c - mean U)^2 sum_c (V_c - mean V)^2)
  Eq. 4   R = 1/|D| sum_i rho(S^I_i, S^T_i)
The paper compares each query with "all the other samples", so by default the query's own
entry (always 1 in both modalities) is left out; ``exclude_self=False`` keeps it.
A row whose similarities are constant has no correlation: it gets NaN and is left out of the
mean (``undefined`` counts such rows).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def affinity_rows(image_emb: torch.Tensor, text_emb: torch.Tensor, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2 for a block of queries: S^I[rows] and S^T[rows], each [q, N] in float64."""
    images = F.normalize(image_emb.double(), dim=-1)  # [N, D]
    texts = F.normalize(text_emb.double(), dim=-1)    # [N, D]
    return images[rows] @ images.T, texts[rows] @ texts.T


def pearson_rows(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq. 3 row by row: [q, C], [q, C] -> [q] (NaN where a row has zero variance)."""
    du = u - u.mean(dim=1, keepdim=True)
    dv = v - v.mean(dim=1, keepdim=True)
    denominator = torch.sqrt((du * du).sum(dim=1) * (dv * dv).sum(dim=1))
    numerator = (du * dv).sum(dim=1)
    return torch.where(denominator > 0, numerator / denominator, torch.full_like(numerator, math.nan))


def drop_diagonal(block: torch.Tensor, start: int) -> torch.Tensor:
    """[q, N] rows of queries start..start+q -> [q, N-1] without each query's own column."""
    q, n = block.shape
    keep = torch.ones(q, n, dtype=torch.bool)
    keep[torch.arange(q), torch.arange(start, start + q)] = False
    return block[keep].view(q, n - 1)


def affinity_consistency(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    exclude_self: bool = True,
    chunk: int = 1024,
) -> tuple[float, torch.Tensor, int]:
    """Eq. 4 over paired embeddings [N, D] x [N, D] -> (R, per-query rho [N], undefined rows)."""
    if image_emb.shape[0] != text_emb.shape[0]:
        raise ValueError(f"{image_emb.shape[0]} images but {text_emb.shape[0]} texts: the metric needs pairs")
    n = image_emb.shape[0]
    if n < (3 if exclude_self else 2):
        raise ValueError(f"affinity consistency needs at least {3 if exclude_self else 2} pairs, got {n}")
    rhos = []
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        s_image, s_text = affinity_rows(image_emb, text_emb, rows)  # [q, N] each
        if exclude_self:
            s_image, s_text = drop_diagonal(s_image, start), drop_diagonal(s_text, start)
        rhos.append(pearson_rows(s_image, s_text))
    rho = torch.cat(rhos)  # [N]
    defined = ~torch.isnan(rho)
    mean = float(rho[defined].mean()) if defined.any() else math.nan
    return mean, rho, int((~defined).sum())

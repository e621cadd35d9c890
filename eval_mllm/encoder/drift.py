"""How far a fine-tuned encoder moved from the encoder it started from, on the same images.

A benchmark that does not change after fine-tuning leaves two readings open: the objective did not
move the encoder, or it moved it somewhere the benchmark does not look. This module tells them apart
(issue 19): on MMVP-VLM's pair images it reports, per pattern,
- ``embedding_cosine``: cosine between the reference's and the encoder's pooled embedding of the
  same image (1.0: the image embeds exactly where it did);
- ``patch_cosine``: the same for the last layer's patch tokens, averaged over patches;
- ``pair_cosine_reference`` / ``pair_cosine``: the cosine between a pair's two images under each
  encoder (lower: the one-attribute difference is seen more);
and over the image tower, ``relative_weight_change`` = ||theta - theta_0|| / ||theta_0|| over the
parameters both encoders share by name and shape.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from openeyes.eval_mllm.encoder.data.images import FileImages
from openeyes.eval_mllm.encoder.data.mmvp_vlm import load_mmvp_vlm
from openeyes.eval_mllm.encoder.embed import embed_image_patches, embed_images
from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import pair_category

IMAGE_TOWER_MARKERS = ("vision", "visual")  # parameter names of the image tower (transformers' CLIP, open_clip)


@dataclass
class PatternDrift:
    """The drift of one MMVP pattern's pair images (means over its images or pairs)."""

    n_pairs: int  # pairs of this pattern
    embedding_cosine: float  # reference vs encoder pooled embedding, same image
    patch_cosine: float | None  # reference vs encoder last-layer patch tokens, same image (None: no patches)
    pair_cosine_reference: float  # the pair's two images under the reference
    pair_cosine: float  # ... under the encoder


@dataclass
class DriftReport:
    """Everything ``measure_drift`` found; ``asdict`` gives its JSON."""

    relative_weight_change: float | None  # image tower, shared parameters (None: nothing shared)
    shared_parameters: int  # image-tower tensors compared by name and shape
    embedding_cosine: float  # over every pair image
    patch_cosine: float | None
    per_pattern: dict[str, PatternDrift] = field(default_factory=dict)


def relative_weight_change(reference: torch.nn.Module, encoder: torch.nn.Module) -> tuple[float | None, int]:
    """||theta - theta_0|| / ||theta_0|| over the image-tower tensors both modules hold (same name, same shape)."""
    base = {name: p for name, p in reference.named_parameters() if any(m in name for m in IMAGE_TOWER_MARKERS)}
    moved, norm, shared = 0.0, 0.0, 0
    for name, param in encoder.named_parameters():
        start = base.get(name)
        if start is None or start.shape != param.shape:
            continue
        start, param = start.detach().float().cpu(), param.detach().float().cpu()
        moved += float((param - start).pow(2).sum())
        norm += float(start.pow(2).sum())
        shared += 1
    return ((moved ** 0.5) / (norm ** 0.5) if norm > 0 else None), shared


def _patch_tokens(encoder, images, batch_size: int) -> torch.Tensor | None:
    """Last-layer patch tokens [N, P, W], or None for an encoder without patches."""
    if not getattr(encoder, "patch_size", 0):
        return None
    grid = (encoder.image_size // encoder.patch_size) ** 2
    flat = embed_image_patches(encoder, images, batch_size, layer=-1, flatten=True)  # [N, P * W]
    return flat.view(flat.shape[0], grid, -1)


def _mean(values: torch.Tensor) -> float:
    return float(values.mean()) if values.numel() else float("nan")


def measure_drift(reference, encoder, mmvp_vlm_dir: str | Path, batch_size: int = 64) -> DriftReport:
    """Compare ``encoder`` with ``reference`` on the pair images of the MMVP-VLM folder ``mmvp_vlm_dir``."""
    data = load_mmvp_vlm(mmvp_vlm_dir)
    pairs = data.pairs
    n = len(pairs)
    images = FileImages([p.image1 for p in pairs] + [p.image2 for p in pairs], Path(mmvp_vlm_dir))
    before, after = embed_images(reference, images, batch_size), embed_images(encoder, images, batch_size)  # [2P, D]
    same_image = F.cosine_similarity(before, after, dim=-1)  # [2P]
    pair_before = F.cosine_similarity(before[:n], before[n:], dim=-1)  # [P]
    pair_after = F.cosine_similarity(after[:n], after[n:], dim=-1)  # [P]
    patches_before, patches_after = _patch_tokens(reference, images, batch_size), _patch_tokens(encoder, images, batch_size)
    same_patches = None
    if patches_before is not None and patches_after is not None and patches_before.shape == patches_after.shape:
        same_patches = F.cosine_similarity(patches_before, patches_after, dim=-1).mean(1)  # [2P]
    weights, shared = relative_weight_change(reference, encoder) if isinstance(encoder, torch.nn.Module) else (None, 0)
    report = DriftReport(relative_weight_change=weights, shared_parameters=shared,
                         embedding_cosine=_mean(same_image),
                         patch_cosine=None if same_patches is None else _mean(same_patches))
    categories = [pair_category(index) for index in range(n)]  # as MMVP-VLM's scoring assigns them
    for category in dict.fromkeys(categories):
        rows = torch.tensor([c == category for c in categories])  # [P]
        both = torch.cat([rows, rows])  # [2P]: a pair's two images
        report.per_pattern[category] = PatternDrift(
            n_pairs=int(rows.sum()), embedding_cosine=_mean(same_image[both]),
            patch_cosine=None if same_patches is None else _mean(same_patches[both]),
            pair_cosine_reference=_mean(pair_before[rows]), pair_cosine=_mean(pair_after[rows]))
    return report


def drift_json(report: DriftReport) -> dict:
    """The report as JSON-ready data."""
    return asdict(report)

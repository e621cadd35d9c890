"""SaCo: sample-wise affinity consistency (Wu et al., CVPR 2024), and its Eq. 4 metric.

Paper equations (I_i, T_i are L2-normalized image / text embeddings of pair i, N pairs):

    Eq. 2   S^I_ij = <I_i, I_j>,  S^T_ij = <T_i, T_j>                 # [N, N] each
    Eq. 4   R = 1/N sum_i rho(S^I_i, S^T_i)        (rho: Pearson, Eq. 3; the affinity consistency metric)
    Eq. 5   L_SaCo  = sum_i D(S^I_i, S^T_i)         (D: L1 distance between the rows)
    Eq. 7   L_mimic = sum_i D(S^I_i, S~^I_i)        (S~: pseudo-affinity of a frozen, well-trained teacher)
    Eq. 8   L_total = L_original + alpha L_SaCo + beta L_mimic      (alpha = beta = 5)

Section 4.2.1's options for training from scratch: incremental weight (alpha ramps up with the
step), sample-wise masking (row i joins Eq. 5 only when <I_i, T_i> passes a threshold) and
pseudo-affinity mimicking (Eq. 7, the one the paper keeps, vision side by default). Section 4.2.2:
continue pre-training of a converged model uses Eq. 5 alone (``mode="continue"``).

Reduction: Eq. 5 and 7 are written as sums over i of L1 distances, i.e. sum_i sum_j |.|, which
grows as N^2 and would make alpha = 5 depend on the batch size. ``reduction="mean"`` (default)
divides by N^2 (the mean absolute difference); ``"sum"`` is the literal formula.

Under DDP the affinities span the gathered (global) batch; ``as_global_loss`` makes 2 processes
update exactly like 1 process on the same global batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from openeyes.errors import UserError
from openeyes.trainer.distributed import as_global_loss, gather_with_grad
from openeyes.training.objectives.base import FeatureCache, Objective

Reduction = Literal["mean", "sum"]


@dataclass
class SacoConfig:
    """SaCo loss settings (paper defaults)."""

    mode: Literal["scratch", "continue"] = "scratch"  # scratch: Eq. 5 + Eq. 7 mimicking; continue: Eq. 5 only (Sec. 4.2.2)
    teacher: str | None = None  # encoder spec for load_encoder (artifact dir, HF dir/id, open_clip:...); needed in scratch mode
    mimic_modality: Literal["vision", "language", "both"] = "vision"  # whose affinity Eq. 7 mimics (paper: vision is best, Tab. 5)
    alpha: float = 5.0  # Eq. 8 weight of L_SaCo (the composite's term weight of "saco")
    beta: float = 5.0  # Eq. 8 weight of L_mimic (the composite's term weight of "saco_mimic")
    reduction: Literal["mean", "sum"] = "mean"  # mean: Eq. 5/7 divided by N^2; sum: the literal double sum
    ramp_steps: int = 0  # incremental weight: scale L_SaCo by min(1, step / ramp_steps); 0 disables
    mask_threshold: float | None = None  # sample-wise masking: row i counts only if cos(I_i, T_i) >= this; None disables


# --- pure math --------------------------------------------------------------------------------


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """Half/bf16 -> float32 for the loss math; float32/float64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def affinity(embeds: torch.Tensor) -> torch.Tensor:
    """Eq. 2: in-batch cosine affinities. [N, D] -> [N, N]."""
    unit = F.normalize(_upcast(embeds), dim=-1)  # [N, D]
    with torch.autocast(device_type=unit.device.type, enabled=False):  # affinities in full precision
        return unit @ unit.T  # [N, N]


def _reduce(rows: torch.Tensor, n: int, reduction: Reduction) -> torch.Tensor:
    # rows: [N] per-row L1 distances sum_j |.|; "sum" is the paper's sum_i, "mean" divides by N^2.
    total = rows.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / (n * n)
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def saco_loss(
    image_embeds: torch.Tensor,  # [N, D] (normalized inside)
    text_embeds: torch.Tensor,  # [N, D], row i pairs with image i
    row_mask: torch.Tensor | None = None,  # [N] bool/float, sample-wise masking of Eq. 5 rows
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 5: sum_i D(S^I_i, S^T_i) with D the L1 distance of the affinity rows."""
    if image_embeds.shape != text_embeds.shape:
        raise ValueError(f"image and text embeddings differ in shape: {tuple(image_embeds.shape)} vs {tuple(text_embeds.shape)}")
    s_image = affinity(image_embeds)  # [N, N]  S^I
    s_text = affinity(text_embeds)  # [N, N]  S^T
    rows = (s_image - s_text).abs().sum(dim=1)  # [N]    D(S^I_i, S^T_i)
    if row_mask is not None:
        rows = rows * row_mask.to(rows.dtype)  # [N]  masked rows contribute 0
    return _reduce(rows, image_embeds.shape[0], reduction)


def mimic_loss(
    student_embeds: torch.Tensor,  # [N, D] student embeddings of one modality
    teacher_embeds: torch.Tensor,  # [N, D'] teacher embeddings of the same samples (any width)
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 7: sum_i D(S_i, S~_i), the student's affinity rows against the teacher's (no gradient into the teacher)."""
    if student_embeds.shape[0] != teacher_embeds.shape[0]:
        raise ValueError(f"student and teacher batches differ: {student_embeds.shape[0]} vs {teacher_embeds.shape[0]}")
    s_student = affinity(student_embeds)  # [N, N]  S_i
    s_teacher = affinity(teacher_embeds.detach())  # [N, N]  S~_i (pseudo-affinity)
    rows = (s_student - s_teacher).abs().sum(dim=1)  # [N]
    return _reduce(rows, student_embeds.shape[0], reduction)


def similarity_mask(image_embeds: torch.Tensor, text_embeds: torch.Tensor, threshold: float) -> torch.Tensor:
    """Sec. 4.2.1 sample-wise masking: [N] bool, True where cos(I_i, T_i) >= threshold (no gradient)."""
    cosine = F.cosine_similarity(image_embeds.detach().float(), text_embeds.detach().float(), dim=-1)  # [N]
    return cosine >= threshold


def incremental_weight(step: int, ramp_steps: int) -> float:
    """Sec. 4.2.1 incremental loss weight: linear from 0 at step 0 to 1 at ``ramp_steps`` (1 when disabled)."""
    if ramp_steps <= 0:
        return 1.0
    return min(1.0, step / ramp_steps)


@torch.no_grad()
def affinity_consistency(image_embeds: torch.Tensor, text_embeds: torch.Tensor, chunk: int = 1024) -> float:
    """Eq. 4: mean over samples i of the Pearson correlation (Eq. 3) of S^I_i and S^T_i.

    Each row compares sample i with all *other* samples ("the query and all the other samples
    within the dataset"), so the self-affinity S_ii = 1 is left out. Rows whose image or text
    affinities are constant (e.g. every caption identical) have no correlation and are skipped;
    NaN if no row is defined (fewer than 3 samples). Computed in float64, ``chunk`` rows at a time.
    """
    if image_embeds.shape[0] != text_embeds.shape[0]:
        raise ValueError(f"image and text counts differ: {image_embeds.shape[0]} vs {text_embeds.shape[0]}")
    n = image_embeds.shape[0]
    if n < 3:
        return float("nan")
    images = F.normalize(image_embeds.detach().double(), dim=-1)  # [N, D]
    texts = F.normalize(text_embeds.detach().double(), dim=-1)  # [N, D']
    total, counted = 0.0, 0
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        s_image = images[start:stop] @ images.T  # [C, N]
        s_text = texts[start:stop] @ texts.T  # [C, N]
        keep = torch.ones_like(s_image, dtype=torch.bool)
        keep[torch.arange(stop - start), torch.arange(start, stop)] = False  # drop j == i
        s_image = s_image[keep].view(stop - start, n - 1)  # [C, N-1]
        s_text = s_text[keep].view(stop - start, n - 1)
        u = s_image - s_image.mean(dim=1, keepdim=True)  # [C, N-1]  U - U_bar
        v = s_text - s_text.mean(dim=1, keepdim=True)  # [C, N-1]  V - V_bar
        denom = torch.sqrt((u * u).sum(dim=1) * (v * v).sum(dim=1))  # [C]
        defined = denom > 1e-12
        total += ((u * v).sum(dim=1)[defined] / denom[defined]).sum().item()
        counted += int(defined.sum())
    return total / counted if counted else float("nan")


# --- module wiring ----------------------------------------------------------------------------


class SacoObjective(Objective):
    """Eq. 5 (+ Eq. 7 with a frozen teacher) over the gathered batch.

    Terms: ``saco`` = ramp(step) * L_SaCo (Eq. 5; ramp = 1 unless ``ramp_steps``), ``saco_mimic`` =
    L_mimic (Eq. 7, scratch mode only). Weight them with ``term_weights()`` (alpha, beta of Eq. 8).
    The teacher is a frozen sub-module (it moves with ``.to()``) but is left out of ``state_dict``:
    it is reloaded from its spec, never checkpointed.
    """

    name = "saco"

    def __init__(self, config: SacoConfig | None = None, encoder: Any = None, teacher: Any = None):
        super().__init__()
        self.config = config = config or SacoConfig()
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # optimizer steps seen (ramp schedule)
        self.teacher = None
        if config.mode == "scratch":
            if teacher is None and config.teacher is None:
                raise UserError("saco: mode 'scratch' mimics a teacher's affinity (Eq. 7); set saco.teacher to an "
                                "encoder spec, or use mode 'continue' (Eq. 5 only)")
            if teacher is None:
                from openeyes.encoders.loading import load_encoder

                teacher = load_encoder(config.teacher)
            teacher.requires_grad_(False)
            self.teacher = teacher.eval()
            self.register_state_dict_post_hook(_drop_teacher_keys)
            self.register_load_state_dict_pre_hook(_fill_teacher_keys)

    def term_weights(self) -> dict[str, float]:
        """Eq. 8 weights, for ``WeightedObjective(term_weights=...)``."""
        return {"saco": self.config.alpha, "saco_mimic": self.config.beta}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: no dropout, no batch statistics
        return self

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        config = self.config
        images = cache.gathered_image_embeds()  # [N, D]
        texts = cache.gathered_text_embeds()  # [N, D]
        mask = similarity_mask(images, texts, config.mask_threshold) if config.mask_threshold is not None else None
        ramp = incremental_weight(int(self.step), config.ramp_steps)
        device = images.device
        terms = {
            "saco": ramp * as_global_loss(saco_loss(images, texts, mask, config.reduction)),  # Eq. 5 (x ramp)
            "_saco_ramp": torch.tensor(ramp, device=device),
        }
        if mask is not None:
            terms["_saco_kept_fraction"] = mask.float().mean()
        if self.teacher is not None:
            terms["saco_mimic"] = as_global_loss(self._mimic(batch, images, texts))  # Eq. 7
        terms["_affinity_consistency"] = torch.tensor(affinity_consistency(images, texts), device=device)  # Eq. 4
        return terms

    def _mimic(self, batch: dict[str, Any], images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        modality = self.config.mimic_modality
        loss = images.new_zeros((), dtype=torch.float32)
        if modality in ("vision", "both"):
            loss = loss + mimic_loss(images, self._teacher_image_embeds(batch["images"]), self.config.reduction)
        if modality in ("language", "both"):
            loss = loss + mimic_loss(texts, self._teacher_text_embeds(batch["texts"], batch["images"].device),
                                     self.config.reduction)
        return loss

    @torch.no_grad()
    def _teacher_image_embeds(self, pixels01: torch.Tensor) -> torch.Tensor:  # [N, D_teacher]
        size = self.teacher.image_size
        if pixels01.shape[-1] != size or pixels01.shape[-2] != size:
            pixels01 = F.interpolate(pixels01.float(), size=(size, size), mode="bicubic", align_corners=False,
                                     antialias=True).clamp(0.0, 1.0)
        local = self.teacher.encode_image(self.teacher.normalize(pixels01))  # [B, D_teacher]
        return gather_with_grad(local.float())

    @torch.no_grad()
    def _teacher_text_embeds(self, texts: list[str], device: torch.device) -> torch.Tensor:  # [N, D_teacher]
        tokens = {k: v.to(device) for k, v in self.teacher.tokenize(texts).items()}
        return gather_with_grad(self.teacher.encode_text(tokens).float())

    def on_step_end(self, encoder) -> None:
        self.step += 1


def _drop_teacher_keys(module, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "teacher.")]:
        del state_dict[key]


def _fill_teacher_keys(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs) -> None:
    # Checkpoints hold no teacher weights: keep the loaded teacher's own tensors so strict loading passes.
    for key, value in module.teacher.state_dict(prefix=prefix + "teacher.").items():
        state_dict.setdefault(key, value)

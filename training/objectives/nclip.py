"""nCLIP and xCLIP: non-contrastive language-image pre-training (Zhou et al., CVPR 2023).

Paper equations (g, h: projected image / text features; K clusters; B samples):

    Eq. 2   p = softmax(g), q = softmax(h),   L_CE = -p^T log q
    Eq. 3   L_EH = -p^T log p,   -L_HE = p_bar^T log p_bar,   p_bar = 1/B sum_i p_i
    Eq. 4   L_nCLIP = L_CE + lambda1 L_EH - lambda2 L_HE            (lambda1 = 0.5, lambda2 = 1.5)
    Eq. 5   L_xCLIP = lambda_CLIP L_CLIP + lambda_nCLIP L_nCLIP      (0.2 and 1)

Algorithm 1 fixes the symmetrization and reductions, which this module follows exactly:

    L_CE = -(p_I . log p_T + p_T . log p_I).sum(1).mean(0)   # both directions, batch mean
    L_EH = -(p_I . log p_I + p_T . log p_T).sum(1).mean(0)   # mean per-sample entropy, both modalities
    L_HE = -(pbar_I . log pbar_I + pbar_T . log pbar_T).sum() # entropy of the batch-mean distribution
    L_nCLIP = (L_CE + lambda1 L_EH - lambda2 L_HE) / 2

So L_EH (sharpness) is minimized and L_HE (smoothness) is maximized (it enters with a minus).
The softmax has no temperature in the paper's nCLIP (Tab. 10: tau = tau_s = 1); ``temperature``
divides both logits alike and defaults to 1. Head (Sec. 3.2): a 2-layer MLP per modality,
Linear -> BatchNorm -> GELU -> Linear(32768) -> BatchNorm without affine.

Under DDP p_bar must be the mean over the *global* batch: heads run on this process's rows
(their BatchNorm statistics are all-reduced, see ``GlobalBatchNorm1d``), the outputs are gathered
with gradient into the local rows, and ``as_global_loss`` scales the gradient; 2 processes then
update exactly like 1 on the same global batch.

The head input is the encoder's joint embedding (``encode_image``/``encode_text``, unnormalized):
the encoder protocol exposes no pooled pre-projection feature, and reusing the cached clean-view
embeddings costs no extra forward pass. xCLIP's CLIP term uses the encoder's own projection as
the paper's 512-d contrastive head.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from openeyes.trainer.distributed import as_global_loss, gather_with_grad, world_size
from openeyes.training.objectives.base import FeatureCache, Objective
from openeyes.training.objectives.clip import MAX_LOG_SCALE, clip_loss


@dataclass
class NclipConfig:
    """nCLIP head and loss settings (paper defaults)."""

    output_dim: int = 32768  # K, clusters of the softmax assignment (Sec. 3.2)
    hidden_dim: int = 4096  # hidden width of the 2-layer MLP head
    lambda1: float = 0.5  # weight of L_EH, the mean per-sample entropy (minimized)
    lambda2: float = 1.5  # weight of L_HE, the entropy of the batch-mean distribution (maximized)
    temperature: float = 1.0  # softmax temperature of both p and q (paper: 1)


@dataclass
class XclipConfig:
    """xCLIP = lambda_CLIP * CLIP + lambda_nCLIP * nCLIP (Eq. 5)."""

    nclip: NclipConfig = field(default_factory=NclipConfig)  # the nCLIP head and loss
    clip_weight: float = 0.2  # lambda_CLIP, term weight of "clip"
    nclip_weight: float = 1.0  # lambda_nCLIP, term weight of "nclip"


# --- pure math --------------------------------------------------------------------------------


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """Half/bf16 -> float32 for the loss math; float32/float64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _log_mean_prob(log_probs: torch.Tensor) -> torch.Tensor:
    # log p_bar = log(1/B sum_i p_i), computed as logsumexp over the batch (no log of 0). [B, K] -> [K]
    return torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])


def nclip_loss_terms(
    image_logits: torch.Tensor,  # [B, K] image head output g
    text_logits: torch.Tensor,  # [B, K] text head output h
    lambda1: float = 0.5,
    lambda2: float = 1.5,
    temperature: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Eqs. 2-4 as in Algorithm 1: {"loss": L_nCLIP, "ce": L_CE, "eh": L_EH, "he": L_HE} (symmetrized sums)."""
    if image_logits.shape != text_logits.shape:
        raise ValueError(f"image and text logits differ in shape: {tuple(image_logits.shape)} vs {tuple(text_logits.shape)}")
    log_p_image = F.log_softmax(_upcast(image_logits) / temperature, dim=1)  # [B, K]  log p_I
    log_p_text = F.log_softmax(_upcast(text_logits) / temperature, dim=1)  # [B, K]  log p_T
    p_image, p_text = log_p_image.exp(), log_p_text.exp()  # [B, K]
    ce = -(p_image * log_p_text + p_text * log_p_image).sum(dim=1).mean(dim=0)  # Eq. 2, both directions
    eh = -(p_image * log_p_image + p_text * log_p_text).sum(dim=1).mean(dim=0)  # Eq. 3, L_EH
    log_bar_image, log_bar_text = _log_mean_prob(log_p_image), _log_mean_prob(log_p_text)  # [K]
    he = -(log_bar_image.exp() * log_bar_image + log_bar_text.exp() * log_bar_text).sum()  # Eq. 3, L_HE
    loss = (ce + lambda1 * eh - lambda2 * he) / 2  # Eq. 4, halved by the symmetrization
    return {"loss": loss, "ce": ce, "eh": eh, "he": he}


def nclip_loss(image_logits, text_logits, lambda1: float = 0.5, lambda2: float = 1.5, temperature: float = 1.0):
    """L_nCLIP (Eq. 4, Algorithm 1), a scalar."""
    return nclip_loss_terms(image_logits, text_logits, lambda1, lambda2, temperature)["loss"]


# --- heads ------------------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward sums the incoming gradients over processes too."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable sum over processes (the tensor itself on one process)."""
    return _AllReduceSum.apply(tensor) if world_size() > 1 else tensor


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics span the global batch under DDP (any backend, CPU too).

    Mean and variance are summed over processes with a differentiable all-reduce, so the gradient
    through the statistics reaches every process's rows, as in one process on the whole batch.
    Statistics are computed in float32 at least, also under bf16 autocast.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C] -> [B, C]
        if not self.training:
            return super().forward(x)
        x = _upcast(x)
        count = torch.tensor(float(x.shape[0]), dtype=x.dtype, device=x.device)
        if world_size() > 1:
            dist.all_reduce(count)  # global batch size
        mean = all_reduce_sum(x.sum(dim=0)) / count  # [C]
        var = all_reduce_sum(((x - mean) ** 2).sum(dim=0)) / count  # [C] biased, as BatchNorm normalizes
        with torch.no_grad():
            self.num_batches_tracked += 1
            unbiased = var * (count / (count - 1)) if count > 1 else var
            momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
            self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), momentum)
        out = (x - mean) * torch.rsqrt(var + self.eps)  # [B, C]
        if self.affine:
            out = out * self.weight.to(out.dtype) + self.bias.to(out.dtype)
        return out


class NclipHead(nn.Sequential):
    """Sec. 3.2: Linear -> BN -> GELU -> Linear(K) -> BN without affine. [B, D_in] -> [B, K]."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__(
            nn.Linear(in_dim, hidden_dim, bias=False),  # bias is redundant before BatchNorm
            GlobalBatchNorm1d(hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, out_dim, bias=False),
            GlobalBatchNorm1d(out_dim, affine=False),
        )


# --- module wiring ----------------------------------------------------------------------------


class NclipObjective(Objective):
    """L_nCLIP on per-modality heads over the encoder's clean-view embeddings.

    Term: ``nclip`` (Eq. 4, lambda1/lambda2 inside); diagnostics ``_nclip_ce``, ``_nclip_eh``,
    ``_nclip_he`` (the unweighted parts). The heads are this objective's parameters.
    """

    name = "nclip"

    def __init__(self, config: NclipConfig | None = None, encoder: Any = None, embed_dim: int | None = None):
        super().__init__()
        self.config = config = config or NclipConfig()
        if embed_dim is None:
            if encoder is None:
                raise ValueError("NclipObjective needs the encoder (or embed_dim) to size its heads")
            embed_dim = int(encoder.embed_dim)
        self.image_head = NclipHead(embed_dim, config.hidden_dim, config.output_dim)
        self.text_head = NclipHead(embed_dim, config.hidden_dim, config.output_dim)

    def term_weights(self) -> dict[str, float]:
        return {"nclip": 1.0}

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        image_logits = gather_with_grad(self.image_head(cache.image_embeds()))  # [N, K], N = global batch
        text_logits = gather_with_grad(self.text_head(cache.text_embeds()))  # [N, K]
        parts = nclip_loss_terms(image_logits, text_logits, self.config.lambda1, self.config.lambda2,
                                 self.config.temperature)
        return {
            "nclip": as_global_loss(parts["loss"]),
            "_nclip_ce": parts["ce"].detach(),
            "_nclip_eh": parts["eh"].detach(),
            "_nclip_he": parts["he"].detach(),
        }


class XclipObjective(Objective):
    """xCLIP (Eq. 5, Algorithm 1): CLIP on the encoder's projection + nCLIP on separate heads.

    Terms: ``clip`` and ``nclip``; ``term_weights()`` gives lambda_CLIP = 0.2, lambda_nCLIP = 1.
    """

    name = "xclip"

    def __init__(self, config: XclipConfig | None = None, encoder: Any = None, embed_dim: int | None = None):
        super().__init__()
        self.config = config = config or XclipConfig()
        self.nclip = NclipObjective(config.nclip, encoder, embed_dim)

    def term_weights(self) -> dict[str, float]:
        return {"clip": self.config.clip_weight, "nclip": self.config.nclip_weight}

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        clip = clip_loss(cache.gathered_image_embeds(), cache.gathered_text_embeds(), encoder.logit_scale)
        terms = {"clip": as_global_loss(clip), "_logit_scale": encoder.logit_scale.detach().exp()}
        terms.update(self.nclip(encoder, batch, cache))
        return terms

    def on_step_end(self, encoder) -> None:
        with torch.no_grad():
            encoder.logit_scale.clamp_(0.0, MAX_LOG_SCALE)

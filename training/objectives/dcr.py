"""DCR: diffusion-contrastive reconstruction on a frozen prior (Algorithm 1 of the DCR supplement).

For a batch x_1..x_B (lines 3-20), with z_i = f(x_i), z_i^+ = f(a(x_i)) and c(z) = h_omega(z) added
to the prior's empty-prompt condition (as the reference code does; repeated over its L tokens):

    t_i ~ p(t), eps_i ~ N(0, I), x_t^i = add_noise(Enc(x_i), eps_i, t_i)               lines 5-7
    anchor      e_i      = eps_theta(x_t^i, c(z_i), t_i)                                line 8
    positives   e_i^+    = eps_theta(x_t^i, c(z_i^+), t_i)                              line 10
                g_i      = target(x0_i, eps_i, t_i)  (eps / v / eps - x0: the schedule's own)  line 16
    negatives   e_i^j    = eps_theta(x_t^i, c(z_j), t_i),  j != i (all B-1, or K sampled)   line 13
    s(u)        = cos(e_i, u) / tau                                                     [B, 2 + K]
    L_i = -1/2 [s(e_i^+) + s(g_i)] + logsumexp_{u in P_i u N_i} s(u)                      line 18
    L   = mean_i L_i                                                                    line 20

Vectorized: the encoder runs once per image and view ([B] clean + [B] augmented); the B(K+2)
denoiser rows (B(B+1) distinct calls for K = B-1, the anchor being the diagonal) are gathered as
(noisy sample row, condition row) pairs and evaluated in chunks of ``chunk_size`` rows; with
``recompute`` each chunk's activations are recomputed in backward (activation checkpointing),
so the peak memory of the step is bounded by one chunk. Softmaxes are log-sum-exps.

Optional local tokens: a ``local_ratio`` share of the encoder's patch tokens (``image_tokens``
at ``local_layer``; the same random positions for the whole batch in a step) is projected by a
second projector and appended to the condition sequence.

Stage 1 trains h_omega only (the encoder runs without gradients); stage 2 trains the encoder
with the stage-1 projector frozen. The prior is frozen throughout and is *not* a registered
sub-module (it is neither checkpointed nor optimised). Under DDP the negatives are the
process's own batch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from openeyes.errors import UserError
from openeyes.training.objectives.augment import ImageAugmentConfig, augment_images, generators_for, view_seed, view_seeds
from openeyes.training.objectives.base import FeatureCache, Objective

PROJECTOR_WEIGHTS = "projector.safetensors"
PROJECTOR_INFO = "projector.json"


@dataclass
class DcrAugmentConfig(ImageAugmentConfig):
    """DCR's positive view a(x): ColorJitter(0.1, 0.1, 0.1, 0.05), flip, RandomResizedCrop(0.9, 1.0).

    ``preset="reference"`` is the official code's view (boyuh/DCR, ``clip_models/CLIP_bank.py``):
    it adds a vertical flip (p 0.5) and crop aspect ratios in (0.9, 1.1); the preset sets every
    field (``resolved_augment``), the ``default`` preset uses the fields as given. The code jitters
    CLIP-normalized tensors; here views are made in [0, 1] before normalization.
    (A subclass, not a factory, so that ``dcr.augment.x=...`` overrides keep the other defaults.)
    """

    crop_scale_min: float = 0.9  # smallest crop area fraction (reference: 0.9)
    hue: float = 0.05  # hue rotation drawn from [-h, h] turns (reference: 0.05)
    preset: Literal["default", "reference"] = "default"  # reference: the official code's view (overrides the fields)


REFERENCE_VIEW = dict(crop_scale_min=0.9, crop_scale_max=1.0, crop_ratio_min=0.9, crop_ratio_max=1.1, flip_prob=0.5,
                      vertical_flip_prob=0.5, brightness=0.1, contrast=0.1, saturation=0.1, hue=0.05, enabled=True)


def resolved_augment(config: DcrAugmentConfig) -> DcrAugmentConfig:
    """The view settings in force: ``config`` itself, or the official code's under ``preset="reference"``."""
    if config.preset == "reference":
        return dataclasses.replace(config, **REFERENCE_VIEW)
    if config.preset != "default":
        raise UserError(f"dcr.augment.preset must be default or reference, got {config.preset!r}")
    return config


@dataclass
class DcrConfig:
    prior: str = "zoo:tiny-prior"  # frozen prior: artifact, zoo:NAME, or an SD-2.1(-unCLIP) folder
    stage: int = 1  # 1: train the projector h_omega (encoder frozen); 2: train the encoder (projector frozen)
    projector: str | None = None  # a saved projector folder to start from (stage 2: stage 1's)
    tau: float = 0.1  # temperature of the cosine similarities
    num_negatives: int = 0  # K negatives per anchor sampled from the batch; 0 -> all B - 1
    local_ratio: float = 0.0  # share of patch tokens appended to the condition (0 = global feature only)
    local_layer: int = -2  # vision layer the local tokens are read from
    projector_hidden: int = 0  # hidden width of h_omega; 0 -> the condition width
    timesteps: Literal["uniform", "logit_normal"] = "uniform"  # distribution of t
    chunk_size: int = 0  # max denoiser rows per call; 0 -> all B(K+2) rows in one call
    recompute: bool = True  # with several chunks, recompute activations in backward (bounded memory)
    augment: DcrAugmentConfig = field(default_factory=DcrAugmentConfig)  # the positive view a(x)
    seed: int = 0  # seed of the augmentations and local-token positions

    def validate(self) -> None:
        if self.stage not in (1, 2):
            raise UserError(f"dcr.stage must be 1 or 2, got {self.stage}")
        if self.tau <= 0:
            raise UserError(f"dcr.tau must be > 0, got {self.tau}")
        if self.num_negatives < 0 or self.chunk_size < 0:
            raise UserError("dcr.num_negatives and dcr.chunk_size must be >= 0")
        if not 0.0 <= self.local_ratio <= 1.0:
            raise UserError(f"dcr.local_ratio must be in [0, 1], got {self.local_ratio}")


# -- h_omega -----------------------------------------------------------------------------------
class ConditionProjector(nn.Module):
    """h_omega: LayerNorm -> Linear -> GELU -> Linear (the reference's ``project_clip``)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        return self.net(features)


class DcrConditioner(nn.Module):
    """Encoder features -> prior conditions: empty-prompt condition + h(z) (+ projected local tokens)."""

    def __init__(self, embed_dim: int, vision_width: int, condition_width: int, hidden: int = 0, local: bool = False):
        super().__init__()
        hidden = hidden or condition_width
        self.dims = {"embed_dim": embed_dim, "vision_width": vision_width, "condition_width": condition_width,
                     "hidden": hidden, "local": local}
        self.global_projector = ConditionProjector(embed_dim, hidden, condition_width)
        self.local_projector = ConditionProjector(vision_width, hidden, condition_width) if local else None

    def forward(self, global_features: torch.Tensor, local_tokens: torch.Tensor | None,
                empty: torch.Tensor) -> torch.Tensor:
        """z [B, D], local tokens [B, n, W] or None, empty condition [L, C] -> conditions [B, L (+ n), C]."""
        conditions = empty.unsqueeze(0) + self.global_projector(global_features).unsqueeze(1)  # [B, L, C]
        if local_tokens is not None and local_tokens.shape[1] > 0:
            if self.local_projector is None:
                raise ValueError("local tokens given to a projector built without local_ratio")
            conditions = torch.cat([conditions, self.local_projector(local_tokens)], dim=1)  # [B, L + n, C]
        return conditions


def save_projector(conditioner: DcrConditioner, directory: str | Path, info: dict[str, Any]) -> Path:
    """Write h_omega (safetensors) and its sizes + provenance (json)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in conditioner.state_dict().items()}
    save_file(state, str(directory / PROJECTOR_WEIGHTS))
    (directory / PROJECTOR_INFO).write_text(json.dumps({**conditioner.dims, **info}, indent=2, default=str))
    return directory


def load_projector(directory: str | Path) -> tuple[DcrConditioner, dict[str, Any]]:
    """Read a projector folder written by ``save_projector``."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / PROJECTOR_WEIGHTS).is_file():
        raise UserError(f"{directory} holds no DCR projector ({PROJECTOR_WEIGHTS}); run stage 1 first")
    info = json.loads((directory / PROJECTOR_INFO).read_text())
    conditioner = DcrConditioner(info["embed_dim"], info["vision_width"], info["condition_width"], info["hidden"],
                                 info["local"])
    conditioner.load_state_dict(load_file(str(directory / PROJECTOR_WEIGHTS)))
    return conditioner, info


# -- the vectorized loss -------------------------------------------------------------------------
def negative_indices(batch: int, num_negatives: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """[B, K] indices j != i: all B - 1 in order (K = 0 or K >= B - 1), else K drawn without replacement."""
    others = torch.tensor([[j for j in range(batch) if j != i] for i in range(batch)], dtype=torch.long)  # [B, B-1]
    if num_negatives == 0 or num_negatives >= batch - 1:
        return others
    order = torch.argsort(torch.rand(batch, batch - 1, generator=generator), dim=1)[:, :num_negatives]  # [B, K]
    return torch.gather(others, 1, order)


def denoise_pairs(denoise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                  x_t: torch.Tensor, t: torch.Tensor, conditions: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                  chunk_size: int = 0, recompute: bool = True) -> torch.Tensor:
    """denoise(x_t[rows[e]], t[rows[e]], conditions[cols[e]]) for every pair e, flattened: [E, P]."""
    total = rows.shape[0]
    chunk = chunk_size if chunk_size > 0 else total

    def run(start: int, stop: int, conditions_: torch.Tensor) -> torch.Tensor:
        r, c = rows[start:stop], cols[start:stop]
        return denoise(x_t[r], t[r], conditions_[c]).flatten(1)  # [n, P]

    several = chunk < total and recompute and torch.is_grad_enabled() and conditions.requires_grad
    outputs = []
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        if several:
            outputs.append(checkpoint(run, start, stop, conditions, use_reentrant=False))
        else:
            outputs.append(run(start, stop, conditions))
    return torch.cat(outputs, dim=0)


def contrastive_terms(anchor: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, tau: float) -> torch.Tensor:
    """Line 18 for every anchor: anchor [B, P], positives [B, 2, P], negatives [B, K, P] -> L_i [B]."""
    candidates = torch.cat([positives, negatives], dim=1).float()  # [B, 2 + K, P]
    logits = torch.einsum("bp,bkp->bk", F.normalize(anchor.float(), dim=-1),
                          F.normalize(candidates, dim=-1)) / tau  # [B, 2 + K]
    return -0.5 * (logits[:, 0] + logits[:, 1]) + torch.logsumexp(logits, dim=1)


@dataclass
class DcrInputs:
    """One step's draws and features (shared by the vectorized loss and the literal test loop)."""

    x0: torch.Tensor  # [B, c, h, w] clean model-space images (VAE latents or pixels in [-1, 1])
    noise: torch.Tensor  # [B, c, h, w] eps_i
    t: torch.Tensor  # [B] timesteps
    negatives: torch.Tensor  # [B, K] negative indices j != i
    features: torch.Tensor  # [B, D] f(x_i)
    features_aug: torch.Tensor  # [B, D] f(a(x_i))
    local: torch.Tensor | None = None  # [B, n, W] selected local tokens of x_i
    local_aug: torch.Tensor | None = None  # [B, n, W] the same positions of a(x_i)


def dcr_loss(prior: Any, conditioner: DcrConditioner, inputs: DcrInputs, tau: float = 0.1, chunk_size: int = 0,
             recompute: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_dcr (scalar) and diagnostics, vectorized over anchors, positives and negatives."""
    batch = inputs.x0.shape[0]
    empty = prior.empty_condition().detach()  # [L, C]
    conditions = torch.cat([conditioner(inputs.features, inputs.local, empty),
                            conditioner(inputs.features_aug, inputs.local_aug, empty)])  # [2B, S, C]
    x_t = prior.schedule.add_noise(inputs.x0, inputs.noise, inputs.t)  # [B, c, h, w]
    target = prior.schedule.target(inputs.x0, inputs.noise, inputs.t).flatten(1)  # [B, P]
    anchors = torch.arange(batch, device=inputs.x0.device)  # [B]
    columns = torch.cat([anchors[:, None], batch + anchors[:, None], inputs.negatives.to(anchors.device)], dim=1)  # [B, 2 + K]
    rows = anchors[:, None].expand_as(columns)
    predictions = denoise_pairs(prior.predict, x_t, inputs.t, conditions, rows.reshape(-1), columns.reshape(-1),
                                chunk_size, recompute).view(batch, columns.shape[1], -1)  # [B, 2 + K, P]
    anchor, positive, negatives = predictions[:, 0], predictions[:, 1:2], predictions[:, 2:]
    positives = torch.cat([positive, target.unsqueeze(1).to(positive.dtype)], dim=1)  # [B, 2, P]
    per_anchor = contrastive_terms(anchor, positives, negatives, tau)  # [B]
    with torch.no_grad():
        mse = F.mse_loss(anchor.float(), target.float())  # reconstruction error of the anchor (Theorem 2)
        diagnostics = {"_dcr_anchor_mse": mse, **binding_diagnostics(anchor, positives, negatives),
                       **binding_range(anchor, positives, negatives, tau, per_anchor.mean())}
    return per_anchor.mean(), diagnostics


def binding_range(anchor: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, tau: float,
                  loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """Where L_dcr sits between its two limits for the step's own positives (no gradients).

    ``_dcr_loss_chance``: line 18 if every negative scored what the augmented view scores (the
    condition carries nothing that tells images apart); ``_dcr_loss_bound``: line 18 with the
    negatives infinitely far (perfect separation). Both keep the anchor's actual similarity to the
    true target, which floors L_dcr above zero and, for a prior whose predictions sit close together,
    above what log(K + 2) suggests. ``_dcr_binding`` = (chance - L) / (chance - bound): 0 at chance,
    1 at perfect separation (the same mean over anchors as ``loss``, the step's L_dcr)."""
    unit = F.normalize(anchor.float(), dim=-1)  # [B, P]
    logits = torch.einsum("bp,bkp->bk", unit, F.normalize(positives.float(), dim=-1)) / tau  # [B, 2]
    count = negatives.shape[1]
    mean_positive = -0.5 * (logits[:, 0] + logits[:, 1])  # [B]
    chance = (mean_positive + torch.logsumexp(torch.cat([logits, logits[:, :1].expand(-1, count)], dim=1), dim=1)).mean()
    bound = (mean_positive + torch.logsumexp(logits, dim=1)).mean()
    return {"_dcr_loss_chance": chance, "_dcr_loss_bound": bound,
            "_dcr_binding": (chance - loss) / (chance - bound).clamp_min(1e-12)}


def binding_diagnostics(anchor: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far the condition separates the candidates (no gradients): mean cosines of the anchor [B, P] to its
    augmented-view prediction, to the true target and to the negatives (positives [B, 2, P], negatives [B, K, P]),
    and how often the augmented view beats every negative. All cosines sit near 1 for a prior that barely
    uses its condition; binding shows as ``_dcr_pos_beats_negs`` rising from 1/(K+1) and the gap
    ``_dcr_cos_pos - _dcr_cos_neg`` growing relative to tau (L_dcr itself is floored by the target term).

    ``_dcr_feature_gain`` is the stage-1 counterpart of the prior's condition-gain gate: the mean squared
    error of the negatives' predictions (another image's feature) to the true target over the anchor's
    (its own feature); 1.0 means h_omega's condition carries nothing about the image."""
    anchor, positives, negatives = anchor.float(), positives.float(), negatives.float()
    unit = F.normalize(anchor, dim=-1)  # [B, P]
    cos_pos, cos_target = (torch.einsum("bp,bkp->bk", unit, F.normalize(positives, dim=-1))).unbind(1)  # [B] each
    cos_neg = torch.einsum("bp,bkp->bk", unit, F.normalize(negatives, dim=-1))  # [B, K]
    target = positives[:, 1:2]  # [B, 1, P]
    mse_own = (anchor[:, None] - target).pow(2).mean()
    mse_other = (negatives - target).pow(2).mean()
    return {"_dcr_cos_pos": cos_pos.mean(), "_dcr_cos_target": cos_target.mean(), "_dcr_cos_neg": cos_neg.mean(),
            "_dcr_pos_beats_negs": (cos_pos > cos_neg.max(dim=1).values).float().mean(),
            "_dcr_feature_gain": mse_other / mse_own.clamp_min(1e-12)}


# -- encoder side --------------------------------------------------------------------------------
def local_positions(num_tokens: int, has_cls: bool, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Indices (into image_tokens' N) of round(ratio * patches) random patch tokens (CLS excluded)."""
    offset = 1 if has_cls else 0
    patches = num_tokens - offset
    count = int(round(ratio * patches))
    return offset + torch.randperm(patches, generator=generator)[:count].sort().values  # [n]


def encoder_features(encoder: Any, images01: torch.Tensor, views01: torch.Tensor, ratio: float, layer: int,
                     generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
    """f(x) [B, D], f(a(x)) [B, D] and the selected local tokens of each ([B, n, W] or None)."""
    both = encoder.normalize(torch.cat([images01, views01]))  # [2B, 3, H, W], each image encoded once
    features = encoder.encode_image(both)  # [2B, D]
    local = None
    if ratio > 0:
        tokens = encoder.image_tokens(both, layer)  # [2B, N, W]
        patches = (encoder.image_size // encoder.patch_size) ** 2
        keep = local_positions(tokens.shape[1], tokens.shape[1] == patches + 1, ratio, generator)
        local = tokens[:, keep.to(tokens.device)]  # [2B, n, W]
    size = images01.shape[0]
    return features[:size], features[size:], (None if local is None else local[:size]), (None if local is None else local[size:])


class DcrObjective(Objective):
    """Algorithm 1 as an objective term ``dcr``; the frozen prior is held outside the module tree."""

    name = "dcr"

    def __init__(self, config: DcrConfig, encoder: Any, prior: Any = None):
        super().__init__()
        config.validate()
        self.config = config
        if prior is None:
            from openeyes.training.prior.loading import load_prior

            prior = load_prior(config.prior)
        prior.requires_grad_(False).eval()
        object.__setattr__(self, "_prior", prior)  # not a sub-module: never saved, optimised or DDP-synced
        if config.projector is not None:
            conditioner, info = load_projector(config.projector)
            if info["embed_dim"] != encoder.embed_dim or info["condition_width"] != prior.condition_width:
                raise UserError(f"projector {config.projector} maps {info['embed_dim']} -> {info['condition_width']}, "
                                f"but the encoder has embed_dim {encoder.embed_dim} and the prior condition width "
                                f"{prior.condition_width}")
        else:
            conditioner = DcrConditioner(encoder.embed_dim, encoder.vision_width, prior.condition_width,
                                         config.projector_hidden, local=config.local_ratio > 0)
        self.conditioner = conditioner
        self.conditioner.requires_grad_(config.stage == 1)
        self.augment = resolved_augment(config.augment)  # the positive view's settings in force
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # optimizer steps seen (augmentation seeds)

    @property
    def prior(self) -> Any:
        return self._prior

    def trainable_in_stage(self, stage: int) -> bool:
        return stage == 1

    def _prior_on(self, device: torch.device) -> Any:
        if self._prior.device() != device:
            self._prior.to(device)
        return self._prior

    def draw_inputs(self, encoder: Any, batch: dict[str, Any]) -> DcrInputs:
        """This step's views, features, timesteps, noise and negatives (global RNG for t / eps / K)."""
        config, step, images = self.config, int(self.step), batch["images"]
        prior = self._prior_on(images.device)
        views = augment_images(images, generators_for(view_seeds(config.seed, batch["index"], step, 0)), self.augment)
        positions = torch.Generator().manual_seed(view_seed(config.seed, -1, step, 1))
        grad = contextlib.nullcontext() if config.stage == 2 else torch.no_grad()
        with grad:
            features, features_aug, local, local_aug = encoder_features(
                encoder, images, views, config.local_ratio, config.local_layer, positions)
        with torch.no_grad():
            x0 = prior.to_model_space(images)  # [B, c, h, w]
        t = prior.schedule.sample_times(images.shape[0], config.timesteps, device=x0.device)
        noise = torch.randn_like(x0)
        negatives = negative_indices(images.shape[0], config.num_negatives).to(x0.device)
        return DcrInputs(x0, noise, t, negatives, features.to(x0.dtype), features_aug.to(x0.dtype),
                         None if local is None else local.to(x0.dtype), None if local_aug is None else local_aug.to(x0.dtype))

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        inputs = self.draw_inputs(encoder, batch)
        loss, diagnostics = dcr_loss(self._prior, self.conditioner, inputs, self.config.tau, self.config.chunk_size,
                                     self.config.recompute)
        return {"dcr": loss, **diagnostics}

    def on_step_end(self, encoder) -> None:
        self.step += 1

    def projector_info(self) -> dict[str, Any]:
        return {"prior": self.config.prior, "config": asdict(self.config)}

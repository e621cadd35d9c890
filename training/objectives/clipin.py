"""CLIPin: a non-contrastive plug-in to CLIP (online/target EMA branches per modality).

Paper equations (B samples; I(1), I(2) and T(1), T(2) two independent views of image and text):

    Eq. 2   M_target <- beta M_target + (1 - beta) M_online                 (beta = 0.95, every step)
    Eq. 3   u = q_inter,I(M_online,I(I(1))),  v = q_inter,T(M_online,T(T(1)))           # [B, 8192]
    Eq. 4   u_tgt = M_target,I(I(2)),  v_tgt = M_target,T(T(2))                         # [B, 8192]
    Eq. 5   L_inter = -Norm(u).Norm(v_tgt) - Norm(v).Norm(u_tgt)
    Eq. 6   u_intra = q_intra,I(M_online,I(I(1))),  v_intra = q_intra,T(M_online,T(T(1)))
    Eq. 7   L_intra = -Norm(u_intra).Norm(u_tgt) - Norm(v_intra).Norm(v_tgt)
    Eq. 8   M(.) = g_NCL(g_pre(f(.)))   g_pre: shared pre-projector (1024), g_NCL: 8192-d head
    Eq. 9   u_CL = g_CL,I(g_pre,I(f(I(1)))),  v_CL = g_CL,T(g_pre,T(f(T(1))))             # [B, 512]
    Eq. 11  L_CL = InfoNCE_I2T(u_CL, v_CL; tau) + InfoNCE_T2I(v_CL, u_CL; tau)            (tau = 0.07)
    Eq. 12  L = L_CL + lambda_inter L_inter + lambda_intra L_intra   (lambdas learnable, init 1)

Eqs. 5 and 7 are per sample; they are averaged over the (global) batch. Targets carry no
gradient (stop-gradient; the target branch only moves by Eq. 2).

Architecture (paper Sec. 3.2 and the reference code): g_pre = Linear(D, 1024); g_CL = Linear(1024, 512);
g_NCL = BN -> GELU -> Linear(1024, 8192); predictors q = Linear(8192, 2048) -> BN -> GELU ->
Linear(2048, 8192), separate for inter/intra and per modality. ``f`` is the encoder's joint
embedding (the protocol's ``encode_image``/``encode_text``). BatchNorms use global-batch
statistics under DDP (``GlobalBatchNorm1d``).

Target branch: a deep copy of the encoder and of the pre-projector + g_NCL per modality, made
when the objective is built (Eq. 2: M^0_target = M^0_online). Its parameters have
``requires_grad=False`` (no optimizer touches them) but live in ``state_dict`` for exact resume;
``on_step_end`` applies Eq. 2. The copy shares the encoder's non-tensor attributes (tokenizer,
image processor, configs) and duplicates only parameters, buffers and tensors.

Learnable weights (Eq. 12): lambda = exp(s) with s a parameter, clamped to
[log weight_floor, log weight_ceiling] in the forward pass and after every step. Plain gradient
descent on lambda * L drives lambda monotonically: with the paper's signed losses (-cos, mostly
negative) lambda grows without bound, with a non-negative form (2 - 2cos, as the reference code)
it shrinks to 0. The bounds keep both losses in play; ``loss_weights="fixed"`` uses the initial
values as constants. Because the weights must see their gradient, the ``clipin_inter`` and
``clipin_intra`` terms come back already multiplied by their lambda (raw values are logged as
``_clipin_inter_raw``/``_clipin_intra_raw``); leave their composite term weights at 1.

``preset="reference"`` follows the official code (github T6Yang/CLIPin, ``main.py`` and
``clip/model.py``) where it differs from the paper:

    L = lambda_cl * 0.5 L_CL + L_inter' + lambda_intra * L_intra'
    L_inter' = 2 - (mean cos(u, v_tgt) + mean cos(v, u_tgt)),  L_intra' likewise (= 2 + Eqs. 5, 7)
    lambda_cl, lambda_intra raw parameters (init 1), clamped to [0, 20] after every step
    tau learnable: logit scale s = log(1 / tau) (init log(1 / 0.07)), clamped to [0, log 100] after every step
    predictors Linear -> BN -> ReLU -> Linear;  g_NCL = BN(affine=False) -> GELU -> Linear
(0.5 L_CL: the code averages the two InfoNCE directions; Eq. 11 sums them.) Kept as here, not as
the code: ``f`` is the protocol's joint embedding (the code projects the pre-projection CLS token)
and the optimizer decays matrices only (the code also decays the two lambdas).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from openeyes.errors import UserError
from openeyes.trainer.distributed import as_global_loss, gather_with_grad
from openeyes.training.objectives.augment import (
    ImageAugmentConfig,
    TextAugmentConfig,
    augment_images,
    augment_texts,
    generators_for,
    view_seeds,
)
from openeyes.training.objectives.base import FeatureCache, Objective
from openeyes.training.objectives.nclip import GlobalBatchNorm1d

IMAGE_VIEWS = (1, 2)  # view numbers mixed into the augmentation seeds
TEXT_VIEWS = (3, 4)


@dataclass
class ClipinConfig:
    """CLIPin branches, heads, losses and views (paper defaults)."""

    ema_momentum: float = 0.95  # beta of Eq. 2 (target <- beta target + (1 - beta) online)
    pre_dim: int = 1024  # output width of the shared pre-projectors g_pre
    contrastive_dim: int = 512  # output width of the contrastive heads g_CL
    noncontrastive_dim: int = 8192  # output width of the non-contrastive heads g_NCL and the predictors
    predictor_hidden_dim: int = 2048  # bottleneck width of the predictors q_inter, q_intra
    temperature: float = 0.07  # tau of Eq. 11 (fixed, as in the paper)
    contrastive: bool = True  # compute L_CL (Eq. 11) on the heads; False: rely on a separate "clip" objective
    preset: Literal["paper", "reference"] = "paper"  # paper equations, or the official code (module docstring)
    loss_weights: Literal["learnable", "fixed"] = "learnable"  # Eq. 12 lambdas: learnable (paper) or constants
    lambda_inter: float = 1.0  # initial (or fixed) lambda_inter
    lambda_intra: float = 1.0  # initial (or fixed) lambda_intra
    lambda_cl: float = 1.0  # reference preset: initial (or fixed) weight of 0.5 L_CL (the code's lambda_combine)
    weight_floor: float = 0.1  # learnable lambdas never go below this
    weight_ceiling: float = 10.0  # learnable lambdas never go above this
    seed: int = 0  # base seed of the view augmentations
    image_augment: ImageAugmentConfig = field(default_factory=ImageAugmentConfig)  # views I(1), I(2)
    text_augment: TextAugmentConfig = field(default_factory=TextAugmentConfig)  # views T(1), T(2) (off by default)


# --- pure math --------------------------------------------------------------------------------


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """Half/bf16 -> float32 for the loss math; float32/float64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def negative_cosine(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-Norm(prediction) . Norm(target) per row, target stop-gradient. [B, D], [B, D] -> [B]."""
    return -(F.normalize(_upcast(prediction), dim=-1) * F.normalize(_upcast(target.detach()), dim=-1)).sum(dim=-1)


def inter_modal_loss(u: torch.Tensor, v: torch.Tensor, u_tgt: torch.Tensor, v_tgt: torch.Tensor) -> torch.Tensor:
    """Eq. 5, batch mean: L_inter,I2T (u vs v_tgt) + L_inter,T2I (v vs u_tgt)."""
    return (negative_cosine(u, v_tgt) + negative_cosine(v, u_tgt)).mean()


def intra_modal_loss(u_intra: torch.Tensor, v_intra: torch.Tensor, u_tgt: torch.Tensor, v_tgt: torch.Tensor) -> torch.Tensor:
    """Eq. 7, batch mean: L_intra,I (u_intra vs u_tgt) + L_intra,T (v_intra vs v_tgt)."""
    return (negative_cosine(u_intra, u_tgt) + negative_cosine(v_intra, v_tgt)).mean()


def contrastive_loss(u_cl: torch.Tensor, v_cl: torch.Tensor, temperature: float | torch.Tensor = 0.07) -> torch.Tensor:
    """Eq. 11: L_CL,I2T + L_CL,T2I (a sum, not CLIP's average). [B, D], [B, D] -> scalar (tau may be a learnable scalar)."""
    with torch.autocast(device_type=u_cl.device.type, enabled=False):  # logits in full precision
        logits = F.normalize(_upcast(u_cl), dim=-1) @ F.normalize(_upcast(v_cl), dim=-1).T / temperature  # [B, B]
    labels = torch.arange(u_cl.shape[0], device=u_cl.device)  # [B]
    return F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)


def clipin_total(l_cl, l_inter, l_intra, lambda_inter, lambda_intra) -> torch.Tensor:
    """Eq. 12: L = L_CL + lambda_inter L_inter + lambda_intra L_intra."""
    return l_cl + lambda_inter * l_inter + lambda_intra * l_intra


REFERENCE_LAMBDA_RANGE = (0.0, 20.0)  # the official code clamps its raw lambdas here after every step
MAX_LOGIT_SCALE = math.log(100.0)  # ... and its logit scale to [0, log 100]


def reference_total(l_cl, l_inter, l_intra, lambda_cl, lambda_intra) -> torch.Tensor:
    """The official code's loss from Eqs. 5, 7, 11 as computed here (signed -cos sums, summed InfoNCE):
    lambda_cl * L_CL / 2 + (2 + L_inter) + lambda_intra * (2 + L_intra)."""
    return lambda_cl * 0.5 * l_cl + (2.0 + l_inter) + lambda_intra * (2.0 + l_intra)


# --- branches ---------------------------------------------------------------------------------


def predictor(width: int, hidden: int, activation: type[nn.Module] = nn.GELU) -> nn.Sequential:
    """q_inter / q_intra: a bottleneck MLP [B, width] -> [B, width] (reference code: ReLU)."""
    return nn.Sequential(nn.Linear(width, hidden), GlobalBatchNorm1d(hidden), activation(), nn.Linear(hidden, width))


class ModalityProjector(nn.Module):
    """g_pre (shared with the contrastive head) followed by g_NCL; one per modality and branch."""

    def __init__(self, in_dim: int, pre_dim: int, out_dim: int, affine: bool = True):
        super().__init__()
        self.pre = nn.Linear(in_dim, pre_dim)  # g_pre: [B, D] -> [B, 1024]
        norm = GlobalBatchNorm1d(pre_dim, affine=affine)  # reference code: affine=False
        self.head = nn.Sequential(norm, nn.GELU(), nn.Linear(pre_dim, out_dim))  # g_NCL

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = self.pre(features)  # [B, 1024]
        return shared, self.head(shared)  # [B, 1024], [B, 8192]


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with ``requires_grad=False``.

    Parameters, buffers and plain tensor attributes are duplicated; every other attribute
    (tokenizers, image processors, model configs, names) is shared with the original, so objects
    that do not deep-copy cleanly or are costly to copy are never copied.
    """
    copied_kinds = (torch.Tensor, nn.Module, list, tuple, dict, set)  # may hold tensors or modules: copy
    memo: dict[int, Any] = {}
    for sub in module.modules():
        for key, value in vars(sub).items():
            if key.startswith("_") or isinstance(value, copied_kinds):  # module internals, containers
                continue
            memo[id(value)] = value
    clone = copy.deepcopy(module, memo)
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
        parameter.grad = None
    return clone


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """Eq. 2 on every parameter: target <- momentum * target + (1 - momentum) * online; buffers are copied."""
    online_params = dict(online.named_parameters())
    for name, target_param in target.named_parameters():
        if name not in online_params:
            raise ValueError(f"EMA target has parameter {name!r} that the online module lacks")
        target_param.lerp_(online_params[name].detach().to(target_param.dtype), 1.0 - momentum)
    online_buffers = dict(online.named_buffers())
    for name, target_buffer in target.named_buffers():
        if name in online_buffers:
            target_buffer.copy_(online_buffers[name])


# --- module wiring ----------------------------------------------------------------------------


class ClipinObjective(Objective):
    """Eqs. 5, 7, 11, 12 with EMA targets; build it before wrapping the encoder for DDP/FSDP.

    Terms: ``clipin_cl`` (Eq. 11, if ``contrastive``), ``clipin_inter`` = lambda_inter L_inter,
    ``clipin_intra`` = lambda_intra L_intra; diagnostics ``_clipin_inter_raw``,
    ``_clipin_intra_raw``, ``_clipin_lambda_inter``, ``_clipin_lambda_intra``.
    """

    name = "clipin"

    def __init__(self, config: ClipinConfig | None = None, encoder: Any = None):
        super().__init__()
        self.config = config = config or ClipinConfig()
        _check(config)
        if encoder is None:
            raise ValueError("ClipinObjective needs the online encoder to build its EMA target")
        embed_dim = int(encoder.embed_dim)
        width, hidden = config.noncontrastive_dim, config.predictor_hidden_dim
        self.reference = reference = config.preset == "reference"
        activation = nn.ReLU if reference else nn.GELU
        self.online_image = ModalityProjector(embed_dim, config.pre_dim, width, affine=not reference)
        self.online_text = ModalityProjector(embed_dim, config.pre_dim, width, affine=not reference)
        self.contrastive_image = nn.Linear(config.pre_dim, config.contrastive_dim)  # g_CL,I
        self.contrastive_text = nn.Linear(config.pre_dim, config.contrastive_dim)  # g_CL,T
        self.inter_image = predictor(width, hidden, activation)  # q_inter,I
        self.inter_text = predictor(width, hidden, activation)  # q_inter,T
        self.intra_image = predictor(width, hidden, activation)  # q_intra,I
        self.intra_text = predictor(width, hidden, activation)  # q_intra,T
        self.target_encoder = frozen_copy(_unwrap(encoder))  # f^m
        self.target_image = frozen_copy(self.online_image)  # g^m_pre,I + g^m_NCL,I
        self.target_text = frozen_copy(self.online_text)  # g^m_pre,T + g^m_NCL,T
        if reference:  # raw [lambda_cl, lambda_intra] and the logit scale log(1 / tau), as the official code
            raw = torch.tensor([config.lambda_cl, config.lambda_intra])  # [2]
            if config.loss_weights == "learnable":
                self.raw_lambdas = nn.Parameter(raw)
            else:
                self.register_buffer("raw_lambdas", raw)
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))
        else:
            log_lambdas = torch.tensor([math.log(config.lambda_inter), math.log(config.lambda_intra)])  # [2]
            if config.loss_weights == "learnable":
                self.log_lambdas = nn.Parameter(log_lambdas)
            else:
                self.register_buffer("log_lambdas", log_lambdas)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # optimizer steps seen (augmentation seeds)

    def term_weights(self) -> dict[str, float]:
        return {"clipin_cl": 1.0, "clipin_inter": 1.0, "clipin_intra": 1.0}  # lambdas are applied inside

    def loss_weights(self) -> torch.Tensor:
        """[lambda_inter, lambda_intra] (Eq. 12), clamped to the floor/ceiling when learnable;
        reference preset: the raw [lambda_cl, lambda_intra] (clamped after each step only, as the code)."""
        if self.reference:
            return self.raw_lambdas
        if self.config.loss_weights == "learnable":
            low, high = math.log(self.config.weight_floor), math.log(self.config.weight_ceiling)
            return self.log_lambdas.clamp(low, high).exp()
        return self.log_lambdas.exp()

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        config, step, index = self.config, int(self.step), batch["index"]
        views = [augment_images(batch["images"], generators_for(view_seeds(config.seed, index, step, view)),
                                config.image_augment) for view in IMAGE_VIEWS]  # 2 x [B, 3, H, W]
        text_1, tokens_2 = self._text_views(encoder, batch, cache, step)  # [B, D], tokens of T(2)

        online_image = encoder.encode_image(encoder.normalize(views[0]))  # f_theta(I(1)) [B, D]
        shared_image, projected_image = self.online_image(online_image)  # [B, 1024], [B, 8192]
        shared_text, projected_text = self.online_text(text_1)  # [B, 1024], [B, 8192]
        u = gather_with_grad(self.inter_image(projected_image))  # Eq. 3  [N, 8192]
        v = gather_with_grad(self.inter_text(projected_text))  # Eq. 3  [N, 8192]
        u_intra = gather_with_grad(self.intra_image(projected_image))  # Eq. 6  [N, 8192]
        v_intra = gather_with_grad(self.intra_text(projected_text))  # Eq. 6  [N, 8192]
        with torch.no_grad():
            target = self.target_encoder
            u_tgt = gather_with_grad(self.target_image(target.encode_image(target.normalize(views[1])))[1])  # Eq. 4
            v_tgt = gather_with_grad(self.target_text(target.encode_text(tokens_2))[1])  # Eq. 4  [N, 8192]

        l_inter = inter_modal_loss(u, v, u_tgt, v_tgt)  # Eq. 5
        l_intra = intra_modal_loss(u_intra, v_intra, u_tgt, v_tgt)  # Eq. 7
        if self.reference:
            return self._reference_terms(shared_image, shared_text, l_inter, l_intra)
        lambdas = self.loss_weights()  # [2]
        terms = {}
        if config.contrastive:
            u_cl = gather_with_grad(self.contrastive_image(shared_image))  # Eq. 9  [N, 512]
            v_cl = gather_with_grad(self.contrastive_text(shared_text))  # Eq. 9  [N, 512]
            terms["clipin_cl"] = as_global_loss(contrastive_loss(u_cl, v_cl, config.temperature))  # Eq. 11
        # Eq. 12: the weight multiplies the already DDP-scaled loss, so lambda's own gradient is not scaled.
        terms["clipin_inter"] = lambdas[0] * as_global_loss(l_inter)
        terms["clipin_intra"] = lambdas[1] * as_global_loss(l_intra)
        terms.update({
            "_clipin_inter_raw": l_inter.detach(),
            "_clipin_intra_raw": l_intra.detach(),
            "_clipin_lambda_inter": lambdas[0].detach(),
            "_clipin_lambda_intra": lambdas[1].detach(),
        })
        return terms

    def _reference_terms(self, shared_image, shared_text, l_inter, l_intra) -> dict[str, torch.Tensor]:
        """The official code's terms: lambda_cl 0.5 L_CL (learnable tau), 2 - cos losses, raw lambda_intra."""
        lambda_cl, lambda_intra = self.raw_lambdas
        terms = {}
        if self.config.contrastive:
            u_cl = gather_with_grad(self.contrastive_image(shared_image))  # Eq. 9  [N, 512]
            v_cl = gather_with_grad(self.contrastive_text(shared_text))  # Eq. 9  [N, 512]
            temperature = self.logit_scale.float().exp().reciprocal()  # tau = 1 / exp(s)
            terms["clipin_cl"] = lambda_cl * 0.5 * as_global_loss(contrastive_loss(u_cl, v_cl, temperature))
        terms["clipin_inter"] = as_global_loss(2.0 + l_inter)
        terms["clipin_intra"] = lambda_intra * as_global_loss(2.0 + l_intra)
        terms.update({"_clipin_inter_raw": l_inter.detach(), "_clipin_intra_raw": l_intra.detach(),
                      "_clipin_lambda_cl": lambda_cl.detach(), "_clipin_lambda_intra": lambda_intra.detach(),
                      "_clipin_logit_scale": self.logit_scale.detach()})
        return terms

    def _text_views(self, encoder, batch, cache: FeatureCache, step: int):
        """Online features of T(1) and the tokens of T(2); both are the clean caption when text views are off."""
        augment = self.config.text_augment
        if not augment.enabled:
            return cache.text_embeds(), cache.tokens()
        device = batch["images"].device
        texts = [augment_texts(batch["texts"], view_seeds(self.config.seed, batch["index"], step, view), augment)
                 for view in TEXT_VIEWS]
        tokens = [{k: t.to(device) for k, t in encoder.tokenize(view).items()} for view in texts]
        return encoder.encode_text(tokens[0]), tokens[1]

    def on_step_end(self, encoder) -> None:
        momentum = self.config.ema_momentum
        ema_update(self.target_encoder, _unwrap(encoder), momentum)  # Eq. 2, f^m
        ema_update(self.target_image, self.online_image, momentum)  # Eq. 2, g^m_I
        ema_update(self.target_text, self.online_text, momentum)  # Eq. 2, g^m_T
        if self.reference:
            with torch.no_grad():
                if self.config.loss_weights == "learnable":
                    self.raw_lambdas.clamp_(*REFERENCE_LAMBDA_RANGE)
                self.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
        elif self.config.loss_weights == "learnable":
            with torch.no_grad():
                self.log_lambdas.clamp_(math.log(self.config.weight_floor), math.log(self.config.weight_ceiling))
        self.step += 1


def _unwrap(encoder: nn.Module) -> nn.Module:
    return encoder.module if isinstance(encoder, DistributedDataParallel) else encoder


def _check(config: ClipinConfig) -> None:
    if not 0.0 <= config.ema_momentum <= 1.0:
        raise UserError(f"clipin.ema_momentum must be in [0, 1], got {config.ema_momentum}")
    if config.temperature <= 0:
        raise UserError(f"clipin.temperature must be positive, got {config.temperature}")
    if config.preset not in ("paper", "reference"):
        raise UserError(f"clipin.preset must be paper or reference, got {config.preset!r}")
    if config.preset == "reference":
        low, high = REFERENCE_LAMBDA_RANGE
        if not (low <= config.lambda_cl <= high and low <= config.lambda_intra <= high):
            raise UserError(f"clipin reference preset: lambda_cl and lambda_intra must lie in [{low}, {high}]")
        return
    if config.lambda_inter <= 0 or config.lambda_intra <= 0:
        raise UserError("clipin.lambda_inter and clipin.lambda_intra must be positive")
    if config.loss_weights == "learnable":
        if not 0 < config.weight_floor <= config.weight_ceiling:
            raise UserError(f"clipin needs 0 < weight_floor <= weight_ceiling, got {config.weight_floor}, {config.weight_ceiling}")
        for name in ("lambda_inter", "lambda_intra"):
            value = getattr(config, name)
            if not config.weight_floor <= value <= config.weight_ceiling:
                raise UserError(f"clipin.{name}={value} lies outside [weight_floor, weight_ceiling]")

"""``DiffusionPrior``: a text-conditioned denoiser eps_theta(x_t, c, t) behind one small interface.

The parts are the diffusers / transformers classes of a text-to-image model, so a tiny prior
trained on the world and a real SD-2.1 folder look the same to DCR:

    unet          diffusers UNet2DConditionModel; ``encoder_hidden_states`` is the condition [B, L, C]
    schedule      NoiseSchedule over DDPMScheduler (epsilon / v) or FlowMatchEulerDiscreteScheduler
    text_encoder  transformers CLIPTextModel; its last hidden state of a prompt is the condition
    tokenizer     pads every prompt to ``max_length`` (the empty prompt "" gives DCR's base condition)
    vae           optional diffusers AutoencoderKL: latent space (x0 = scaling_factor * mean of q(z|x))

Images enter as [B, 3, H, W] in [0, 1] (any size; resized to ``image_size``) and are mapped to
[-1, 1] first, as SD's VAE and pixel-space DDPMs expect.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from openeyes.errors import UserError
from openeyes.training.prior.schedule import NoiseSchedule


@dataclass
class PriorModelConfig:
    """Sizes and parameterization of a fresh (tiny) prior."""

    image_size: int = 32  # resolution of the images the prior models (pixels)
    space: Literal["pixel", "latent"] = "pixel"  # denoise pixels, or AutoencoderKL latents
    schedule: Literal["ddpm", "flow"] = "ddpm"  # DDPM noise schedule, or rectified flow x_t = (1-t) x0 + t eps
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"  # DDPM only: what the UNet predicts
    num_train_timesteps: int = 1000  # T of the DDPM schedule (flow: the UNet sees t * T)
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64])  # UNet widths per resolution
    layers_per_block: int = 1  # ResNet blocks per UNet level
    attention_head_dim: int = 8  # channels per cross/self-attention head
    cross_only_levels: int = 0  # highest-resolution levels whose attention is cross-attention only (no self-attention over H*W tokens: 1.8x faster steps at 32 px)
    text_width: int = 64  # text encoder width = UNet cross-attention dim = condition width C
    text_layers: int = 2  # text encoder transformer layers
    text_heads: int = 4  # text encoder attention heads
    latent_channels: int = 4  # VAE latent channels (latent space only)
    vae_block_out_channels: list[int] = field(default_factory=lambda: [32, 64])  # VAE widths (each level after the first halves the size)


def tiny_unet(config: PriorModelConfig, in_channels: int, sample_size: int, **extra: Any):
    """A small UNet2DConditionModel: cross-attention on every level but the lowest (``extra``: more UNet kwargs).

    The first ``config.cross_only_levels`` levels attend to the caption only (diffusers' ``only_cross_attention``):
    self-attention over all H*W positions is most of a step's cost at the top resolution, while the
    caption's cross-attention there is cheap; the lower levels and the middle block keep self-attention."""
    from diffusers import UNet2DConditionModel

    levels = len(config.block_out_channels)
    if not 0 <= config.cross_only_levels < levels:
        raise UserError(f"model.cross_only_levels={config.cross_only_levels}: must be between 0 and {levels - 1} "
                        f"(the lowest of the {levels} levels has no attention)")
    down = ["CrossAttnDownBlock2D"] * (levels - 1) + ["DownBlock2D"]
    up = ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (levels - 1)
    if config.cross_only_levels:
        extra.setdefault("only_cross_attention", tuple(level < config.cross_only_levels for level in range(levels)))
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=in_channels,
        down_block_types=tuple(down), up_block_types=tuple(up),
        block_out_channels=tuple(config.block_out_channels), layers_per_block=config.layers_per_block,
        cross_attention_dim=config.text_width, attention_head_dim=config.attention_head_dim,
        norm_num_groups=min(32, min(config.block_out_channels)), **extra,
    )


def tiny_vae(config: PriorModelConfig):
    """A small AutoencoderKL (downsampling 2 ** (levels - 1))."""
    from diffusers import AutoencoderKL

    levels = len(config.vae_block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=config.latent_channels,
        down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(config.vae_block_out_channels), layers_per_block=1,
        norm_num_groups=min(32, min(config.vae_block_out_channels)), sample_size=config.image_size,
    )


def tiny_text_encoder(config: PriorModelConfig, tokenizer: Any):
    """A small transformers CLIPTextModel matching ``tokenizer`` (pools at its eos id)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    text_config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=config.text_width, intermediate_size=4 * config.text_width,
        num_hidden_layers=config.text_layers, num_attention_heads=config.text_heads,
        max_position_embeddings=int(tokenizer.model_max_length), eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id or 0, pad_token_id=tokenizer.pad_token_id or 0,
    )
    return CLIPTextModel(text_config)


class DiffusionPrior(nn.Module):
    """A conditional denoiser with its schedule, text encoder and optional VAE (see module docstring)."""

    def __init__(self, unet: nn.Module, schedule: NoiseSchedule, text_encoder: nn.Module, tokenizer: Any,
                 vae: nn.Module | None = None, image_size: int | None = None, name: str = "prior"):
        super().__init__()
        self.unet = unet
        self.text_encoder = text_encoder
        self.vae = vae
        self.schedule = schedule
        self.tokenizer = tokenizer
        self.name = name
        sample_size = int(unet.config.sample_size)
        self.downsample = 2 ** (len(vae.config.block_out_channels) - 1) if vae is not None else 1
        self.image_size = int(image_size or sample_size * self.downsample)
        self.condition_width = int(unet.config.cross_attention_dim)
        self.max_length = int(min(tokenizer.model_max_length, text_encoder.config.max_position_embeddings))
        class_type = unet.config.class_embed_type
        self.class_dim = int(unet.config.projection_class_embeddings_input_dim or 0) if class_type == "projection" else 0

    # -- conditions --------------------------------------------------------------------------
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:  # [B, L]
        encoded = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
        return encoded["input_ids"].to(self.device())

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:  # [B, L, C]
        """The condition of each prompt: the text encoder's last hidden state (no mask, as SD)."""
        return self.text_encoder(input_ids=self.tokenize(texts)).last_hidden_state

    def empty_condition(self) -> torch.Tensor:  # [L, C]
        """The empty prompt's condition (DCR adds its projected features to it)."""
        return self.encode_text([""])[0]

    # -- data <-> model space ----------------------------------------------------------------
    def to_model_space(self, images01: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [0, 1] -> clean x0 [B, C, h, w] (pixels in [-1, 1] or scaled VAE means)."""
        images01 = images01.to(self.device(), next(self.unet.parameters()).dtype)
        if images01.shape[-1] != self.image_size or images01.shape[-2] != self.image_size:
            images01 = F.interpolate(images01, size=(self.image_size, self.image_size), mode="bilinear",
                                     antialias=True, align_corners=False)
        pixels = images01 * 2.0 - 1.0  # [B, 3, S, S]
        if self.vae is None:
            return pixels
        latents = self.vae.encode(pixels).latent_dist.mean  # [B, c, S/d, S/d]
        return latents * float(self.vae.config.scaling_factor)

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        """Model space [B, C, h, w] -> images [B, 3, S, S] in [0, 1]."""
        if self.vae is not None:
            x0 = self.vae.decode(x0 / float(self.vae.config.scaling_factor)).sample
        return ((x0 + 1.0) / 2.0).clamp(0.0, 1.0)

    # -- the denoiser ------------------------------------------------------------------------
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """eps_theta(x_t, c, t) [B, C, h, w] (or v / flow velocity, per ``schedule.prediction_type``)."""
        class_labels = None
        if self.class_dim:  # unCLIP UNets also take an image embedding; zeros = no image condition
            class_labels = torch.zeros(x_t.shape[0], self.class_dim, device=x_t.device, dtype=condition.dtype)
        time = self.schedule.model_time(t)
        return self.unet(x_t, time, encoder_hidden_states=condition, class_labels=class_labels).sample

    @torch.no_grad()
    def sample(self, texts: Sequence[str], steps: int = 25, guidance: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Images [B, 3, S, S] in [0, 1] for ``texts`` (flow: Euler; DDPM: DDIM), classifier-free guidance."""
        device = self.device()
        condition = self.encode_text(texts)  # [B, L, C]
        empty = self.empty_condition().expand_as(condition)
        channels, size = int(self.unet.config.in_channels), int(self.unet.config.sample_size)
        x = torch.randn(len(texts), channels, size, size, generator=generator).to(device)

        def guided(x_t, t):
            if guidance == 1.0:
                return self.predict(x_t, t, condition)
            both = self.predict(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([empty, condition]))
            uncond, cond = both.chunk(2)
            return uncond + guidance * (cond - uncond)

        if self.schedule.is_flow:
            grid = torch.linspace(1.0, 0.0, steps + 1)
            for start, end in zip(grid[:-1].tolist(), grid[1:].tolist()):
                t = torch.full((len(texts),), start, device=device)
                x = x + (end - start) * guided(x, t)  # dx/dt = eps - x0
            return self.to_images(x)
        from diffusers import DDIMScheduler

        ddim = DDIMScheduler.from_config(self.schedule.scheduler.config, clip_sample=False, set_alpha_to_one=True)
        ddim.set_timesteps(steps)
        for step in ddim.timesteps:
            t = torch.full((len(texts),), int(step), device=device, dtype=torch.long)
            x = ddim.step(guided(x, t), int(step), x).prev_sample
        return self.to_images(x)


def build_prior(config: PriorModelConfig, tokenizer: Any, seed: int | None = 0, vae: nn.Module | None = None,
                name: str = "tiny-prior") -> DiffusionPrior:
    """A fresh prior (random UNet and text encoder) for ``tokenizer``; ``vae`` for latent space."""
    if config.space == "latent" and vae is None:
        raise ValueError("a latent-space prior needs a VAE")
    if seed is not None:
        torch.manual_seed(seed)
    if config.space == "latent":
        downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        unet = tiny_unet(config, int(vae.config.latent_channels), config.image_size // downsample)
    else:
        vae = None
        unet = tiny_unet(config, 3, config.image_size)
    schedule = NoiseSchedule.create(config.schedule, config.prediction_type, config.num_train_timesteps)
    return DiffusionPrior(unet, schedule, tiny_text_encoder(config, tokenizer), tokenizer, vae,
                          image_size=config.image_size, name=name)

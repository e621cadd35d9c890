"""``openeyes train prior``: train the text-conditioned diffusion prior on world captions.

One typed config (YAML + ``key=value`` overrides): the prior's size and parameterization
(``model``: pixel or latent space, DDPM epsilon/v or rectified flow), its caption tokenizer and
text encoder (trained jointly or frozen), the denoising options (caption dropout = the empty
prompt's training, timestep distribution), the spectral regularizer (Eq. 15, off by default),
data, trainer and optimizer. A latent prior uses ``vae`` (an AutoencoderKL folder, e.g. SD's)
or first trains a tiny VAE on the world (``vae_train``; its own resumable run in
``<trainer.out_dir>/vae``). The run ends with a prior artifact in ``out``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from openeyes.config import to_dict
from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.resume import NEW_RUN
from openeyes.training.objectives.spectral import SpectralConfig
from openeyes.training.prior.model import PriorModelConfig
from openeyes.training.prior.objective import DenoiseConfig, VaeTrainSettings
from openeyes.training.recipes.encoder_data import DataConfig, ImageTextCollate, build_dataset


@dataclass
class PriorTextSettings:
    tokenizer_vocab: int = 1024  # BPE vocabulary of the caption tokenizer
    tokenizer_corpus: int = 20_000  # world captions the tokenizer is trained on
    max_length: int = 32  # condition length L (prompts are padded/truncated to it)
    train_text_encoder: bool = True  # train the text encoder jointly with the UNet (False: frozen random)


@dataclass
class PriorOptim(OptimConfig):
    lr: float = 3e-4  # peak learning rate of the denoiser
    weight_decay: float = 0.0  # no decay (diffusion practice)


@dataclass
class PriorTrainConfig:
    name: str = "tiny-prior"  # artifact name written in the card
    out: str = "runs/prior/artifact"  # where the prior artifact goes
    model: PriorModelConfig = field(default_factory=PriorModelConfig)  # UNet / schedule / space
    text: PriorTextSettings = field(default_factory=PriorTextSettings)  # tokenizer + text encoder
    vae: str | None = None  # latent space: an AutoencoderKL folder; None trains a tiny one first
    vae_train: VaeTrainSettings = field(default_factory=VaeTrainSettings)  # the tiny VAE's pre-stage
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)  # caption dropout, timestep distribution
    spectral: SpectralConfig = field(default_factory=SpectralConfig)  # Neural-Eigenmap regularizer (Eq. 15)
    data: DataConfig = field(default_factory=DataConfig)  # image-caption pairs (the world by default)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # loop settings
    optim: PriorOptim = field(default_factory=PriorOptim)  # AdamW + schedule


def world_caption_tokenizer(text: PriorTextSettings, world_seed: int, data: DataConfig | None = None):
    """A caption BPE trained on world captions and class prompts (deterministic); with a
    ``world_prior`` data source also on that stream's texts (full captions, pair statements)."""
    from openeyes.encoders.tokenizer import train_caption_tokenizer
    from openeyes.world.dataset import WorldImageText
    from openeyes.world.vocab import CLASSIFICATION_CLASSES, CLASSIFICATION_TEMPLATES

    source = WorldImageText(world_seed, "train", size=32, length=text.tokenizer_corpus)
    corpus = [source.caption(i) if hasattr(source, "caption") else source[i]["text"] for i in range(text.tokenizer_corpus)]
    if data is not None and data.source == "world_prior":
        from openeyes.world.prior_text import WorldPriorText

        stream = WorldPriorText(world_seed, "train", size=32, length=text.tokenizer_corpus, pair_fraction=data.pair_fraction)
        corpus += [stream.scene_text(i)[1] for i in range(text.tokenizer_corpus)]
    corpus += [t.format(c=c) for c in CLASSIFICATION_CLASSES for t in CLASSIFICATION_TEMPLATES]
    return train_caption_tokenizer(corpus, vocab_size=text.tokenizer_vocab, max_length=text.max_length)


def prepare_vae(config: PriorTrainConfig, dataset, collate):
    """The frozen VAE of a latent prior: loaded from ``config.vae`` or trained here first."""
    import torch
    from diffusers import AutoencoderKL

    from openeyes.trainer import Trainer
    from openeyes.training.prior.model import tiny_vae
    from openeyes.training.prior.objective import VaeObjective, calibrate_scaling_factor

    if config.vae is not None:
        path = Path(config.vae)
        if not path.is_dir():
            raise UserError(f"vae={config.vae!r} is not a directory")
        source = path / "vae" if (path / "vae").is_dir() else path
        vae = AutoencoderKL.from_pretrained(source)
    else:
        torch.manual_seed(config.trainer.seed)
        vae = tiny_vae(config.model)
        settings = config.vae_train
        trainer_config = dataclasses.replace(config.trainer, steps=settings.steps, batch_size=settings.batch_size,
                                             out_dir=str(Path(config.trainer.out_dir) / "vae"),
                                             resume="no" if config.trainer.resume in NEW_RUN else "auto")
        optim = dataclasses.replace(config.optim, lr=settings.lr, weight_decay=0.0)
        Trainer(trainer_config, optim, vae, VaeObjective(config.model.image_size, settings.kl_weight), dataset, collate,
                run_info={"recipe": "prior-vae", "name": config.name}, run_config=to_dict(config)).train()
        images = collate([dataset[i] for i in range(min(256, len(dataset)))])["images"]
        calibrate_scaling_factor(vae.eval(), images)
    vae.requires_grad_(False)
    return vae.eval()


def trainable_filter(config: PriorTrainConfig):
    """``param_filter``: the UNet, the text encoder when it trains, the spectral head; never the VAE."""

    def keep(name: str, param) -> bool:
        if name.startswith("objective."):
            return True
        if name.startswith("model.vae."):
            return False
        if name.startswith("model.text_encoder."):
            return config.text.train_text_encoder
        return True

    return keep


def train_prior(config: PriorTrainConfig) -> Path:
    """Run the training described by ``config``; return the prior artifact directory."""
    from openeyes.trainer import Trainer
    from openeyes.training.prior.loading import save_prior
    from openeyes.training.prior.model import build_prior
    from openeyes.trainer.resume import resolve_resume
    from openeyes.training.prior.objective import DenoisingObjective

    if config.model.space == "pixel" and config.vae is not None:
        raise UserError("vae is set but model.space=pixel; use model.space=latent")
    config.trainer.place_beside(config.out)
    resolve_resume(config.trainer.resume, config.trainer.out_dir)  # refuse a used run folder before building anything
    dataset = build_dataset(config.data, config.model.image_size)
    collate = ImageTextCollate(config.model.image_size)
    tokenizer = world_caption_tokenizer(config.text, config.data.world_seed, config.data)
    vae = prepare_vae(config, dataset, collate) if config.model.space == "latent" else None
    prior = build_prior(config.model, tokenizer, seed=config.trainer.seed, vae=vae, name=config.name)
    objective = DenoisingObjective(config.denoise, config.spectral, prior)

    def export(model, out_dir, summary):
        save_prior(model, config.out, name=config.name, base=config.vae or "random init", config=to_dict(config),
                   data=to_dict(config.data), seed=config.trainer.seed, steps=summary.get("steps"),
                   metrics={"final_log": summary.get("last") or {}})

    trainer = Trainer(config.trainer, config.optim, prior.train(), objective, dataset, collate,
                      param_filter=trainable_filter(config), export=export,
                      run_info={"recipe": "prior", "name": config.name}, run_config=to_dict(config),
                      checkpoint_filter=lambda name: not name.startswith("model.vae."))  # the frozen VAE is rebuilt
    trainer.train()
    return Path(config.out)

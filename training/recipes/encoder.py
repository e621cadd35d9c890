"""``openeyes train encoder``: train or continue-pretrain a CLIP-style encoder.

One typed config (YAML + ``key=value`` overrides) names the starting encoder (an artifact,
HF dir/id, open_clip spec, or a fresh tiny CLIP), the weighted objectives, the data, which
towers train (or LoRA), and the trainer/optimizer settings. The run ends with an encoder
artifact (HF ``CLIPModel``/``SiglipModel`` + card) in ``out``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from openeyes.config import from_dict, to_dict
from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.training.recipes.encoder_data import DataConfig, ImageTextCollate, build_dataset


@dataclass
class ObjectiveEntry:
    name: str = "clip"  # objective registry name (clip, saco, clipin, nclip, xclip, labels)
    weight: float = 1.0  # multiplies every term of this objective
    options: dict[str, Any] = field(default_factory=dict)  # fields of the objective's config dataclass
    term_weights: dict[str, float] = field(default_factory=dict)  # per-term weight overrides


@dataclass
class InitConfig:
    encoder: str | None = None  # encoder spec to start from; None builds a fresh tiny CLIP
    tiny: dict[str, Any] = field(default_factory=dict)  # build_tiny_clip overrides for a fresh model
    tokenizer_vocab: int = 1024  # BPE vocabulary of a fresh model's tokenizer
    tokenizer_corpus: int = 20_000  # world captions the fresh tokenizer is trained on


@dataclass
class LoraSettings:
    enabled: bool = False  # train LoRA adapters instead of full weights (merged at export)
    r: int = 16  # adapter rank (DCR/GenHancer use 16)
    alpha: float = 32.0  # LoRA scaling numerator
    dropout: float = 0.0  # dropout on the adapter input
    targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"])  # module suffixes


@dataclass
class EncoderTrainConfig:
    name: str = "encoder"  # artifact name written in the card
    out: str = "runs/encoder/artifact"  # where the encoder artifact goes
    init: InitConfig = field(default_factory=InitConfig)  # starting point
    objectives: list[ObjectiveEntry] = field(default_factory=lambda: [ObjectiveEntry()])  # weighted sum
    data: DataConfig = field(default_factory=DataConfig)  # training pairs
    towers: Literal["both", "vision", "text"] = "both"  # which towers train (the other is frozen)
    lora: LoraSettings = field(default_factory=LoraSettings)  # LoRA continue-pretraining
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # loop settings
    optim: OptimConfig = field(default_factory=OptimConfig)  # AdamW + schedule
    weights_dtype: Literal["float32", "float16"] = "float32"  # storage dtype of the artifact's weights


VISION_MARKERS = ("vision_model", "visual_projection", "visual.")
TEXT_MARKERS = ("text_model", "text_projection", "token_embedding", "positional_embedding", "ln_final", "transformer.")


def tower_of(name: str) -> str:
    """'vision', 'text' or 'shared' (logit scale/bias) for an encoder parameter name."""
    if any(marker in name for marker in VISION_MARKERS):
        return "vision"
    if any(marker in name for marker in TEXT_MARKERS):
        return "text"
    return "shared"


def build_start_encoder(init: InitConfig, data: DataConfig):
    """The encoder a run starts from: a loaded spec, or a fresh tiny CLIP with a world tokenizer."""
    if init.encoder is not None:
        from openeyes.encoders.loading import load_encoder

        return load_encoder(init.encoder)
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer
    from openeyes.world.dataset import WorldImageText
    from openeyes.world.vocab import CLASSIFICATION_CLASSES, CLASSIFICATION_TEMPLATES

    corpus_source = WorldImageText(data.world_seed, "train", size=32, length=init.tokenizer_corpus)
    corpus = [corpus_source.caption(i) if hasattr(corpus_source, "caption") else corpus_source[i]["text"]
              for i in range(init.tokenizer_corpus)]
    corpus += [t.format(c=c) for c in CLASSIFICATION_CLASSES for t in CLASSIFICATION_TEMPLATES]
    tokenizer = train_caption_tokenizer(corpus, vocab_size=init.tokenizer_vocab)
    return build_tiny_clip(tokenizer, seed=0, **init.tiny)


def build_objectives(entries: list[ObjectiveEntry], encoder):
    from openeyes.training.objectives import CONFIGS, Composite, build_objective, weighted_entry

    built = []
    for entry in entries:
        if entry.name not in CONFIGS:
            raise UserError(f"unknown objective {entry.name!r}; known: {', '.join(CONFIGS)}")
        options = from_dict(CONFIGS[entry.name], entry.options, f"objectives.{entry.name}.")
        objective = build_objective(entry.name, encoder, options)
        built.append(weighted_entry(objective, entry.weight, entry.term_weights))
    return Composite(built)


def trainable_filter(config: EncoderTrainConfig):
    """``param_filter`` for the trainer: towers / LoRA adapters of the encoder, all objective params."""

    def keep(name: str, param) -> bool:
        if name.startswith("objective."):
            return param.requires_grad
        if config.lora.enabled:
            return "lora_" in name
        tower = tower_of(name)
        return config.towers == "both" or tower in (config.towers, "shared")

    return keep


def patch_grid_for(config: EncoderTrainConfig, encoder) -> int | None:
    """The patch grid side G when an objective needs per-patch labels, else None."""
    if not any(entry.name == "patch_labels" for entry in config.objectives):
        return None
    return encoder.image_size // encoder.patch_size


def train_encoder(config: EncoderTrainConfig) -> Path:
    """Run the training described by ``config``; return the artifact directory."""
    from openeyes.encoders.artifact import save_encoder_artifact
    from openeyes.trainer import Trainer
    from openeyes.trainer.freeze import apply_lora, merge_lora
    from openeyes.trainer.resume import resolve_resume

    config.trainer.place_beside(config.out)
    resolve_resume(config.trainer.resume, config.trainer.out_dir)  # refuse a used run folder before building anything
    encoder = build_start_encoder(config.init, config.data).train()
    objective = build_objectives(config.objectives, encoder)
    if config.lora.enabled:
        apply_lora(encoder.model, config.lora.targets, config.lora.r, config.lora.alpha, config.lora.dropout)
    dataset = build_dataset(config.data, encoder.image_size)
    base = config.init.encoder or "tiny-clip (random init)"

    def export(model, out_dir, summary):
        if config.lora.enabled:
            merge_lora(model.model)
        save_encoder_artifact(
            model, config.out, name=config.name, base=base, config=to_dict(config),
            data=to_dict(config.data), seed=config.trainer.seed, steps=summary.get("steps"),
            metrics={"final_log": summary.get("last") or {}}, weights_dtype=config.weights_dtype,
        )

    trainer = Trainer(
        config.trainer, config.optim, encoder, objective, dataset, ImageTextCollate(encoder.image_size, patch_grid_for(config, encoder)),
        on_step_end=lambda model, step: objective.on_step_end(model),
        param_filter=trainable_filter(config), export=export, run_info={"recipe": "encoder", "name": config.name},
        run_config=to_dict(config),
    )
    trainer.train()
    return Path(config.out)

"""LLaVA stage 1 (projector only) and stage 2 (projector + LoRA on the LM) on the generic trainer.

Stage 1 follows LLaVA-1.5's pretraining recipe: vision tower and LM frozen, the projector
trained on image-caption conversations, lr 1e-3, warmup 3 % then cosine, no weight decay.
Stage 2 tunes the projector plus LoRA adapters on every linear layer of the LM on multi-turn
instruction data (loss on all gpt turns); the adapters are merged before the artifact is
written, so the result is a plain Llava directory. Both resume exactly (``trainer.resume``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openeyes.config import to_dict
from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.resume import resolve_resume

PROJECTOR_PREFIX = "model.model.multi_modal_projector."  # as the trainer names it (TrainingModule.model.<...>)
VISION_PREFIX = "model.model.vision_tower."
LM_PREFIX = "model.model.language_model."
LM_HEAD_PREFIX = "model.lm_head."
LM_LINEAR_LAYERS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _stage1_optim() -> OptimConfig:
    return OptimConfig(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_ratio=0.03, schedule="cosine")


@dataclass
class DataConfig:
    """Where the conversations are."""

    path: str = ""  # LLaVA JSON file, or a folder holding it (a world export root works)
    image_folder: str | None = None  # LLaVA's --image_folder; None: images/ beside the JSON, else its folder
    max_length: int = 512  # tokens per sample after image expansion (longer samples are cut)
    limit: int | None = None  # use only the first N rows (smoke runs)


@dataclass
class LoraSettings:
    """LoRA on the language model (stage 2)."""

    r: int = 16  # adapter rank
    alpha: float = 32.0  # scaling numerator (scale = alpha / r)
    dropout: float = 0.05  # dropout on the adapter input
    targets: list[str] = field(default_factory=lambda: list(LM_LINEAR_LAYERS))  # module-name suffixes in the LM


@dataclass
class LlavaTrainConfig:
    """One LLaVA training stage on an existing MLLM artifact."""

    stage: int = 1  # 1: projector only (pretraining); 2: projector + the LM (instruction tuning)
    lm_tuning: str = "lora"  # stage 2: "lora" (adapters, merged at export; finetune_lora.sh) or "full" (finetune.sh)
    train_vision_tower: bool = False  # also tune the whole vision tower (stage 2 only; Cambrian/InternVL-style)
    mllm: str = ""  # the starting MLLM directory (artifact or transformers Llava dir)
    out: str = ""  # where the trained MLLM artifact goes
    name: str = ""  # artifact name; "" -> the out folder's name
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(steps=100, batch_size=8, checkpoint_every=0,
                                                                          log_every=5, out_dir=""))
    optim: OptimConfig = field(default_factory=_stage1_optim)  # LLaVA stage 1 defaults; stage 2 (LLaVA: 2e-4 with LoRA)

    def validate(self) -> None:
        if self.stage not in (1, 2):
            raise UserError(f"stage must be 1 or 2, got {self.stage}")
        if not self.mllm or not self.out or not self.data.path:
            raise UserError("mllm, out and data.path are required")
        if self.lm_tuning not in ("lora", "full"):
            raise UserError(f"lm_tuning must be 'lora' or 'full', got {self.lm_tuning!r}")
        if self.train_vision_tower and self.stage != 2:
            raise UserError("train_vision_tower applies to stage 2 only (stage 1 trains the projector alone)")
        if self.data.max_length < 8:
            raise UserError(f"data.max_length must be >= 8, got {self.data.max_length}")


def stage_defaults(stage: int, config_file: str | Path | None = None) -> list[str]:
    """Overrides applied before the user's for a stage (stage 2: LLaVA's LoRA learning rate, 2e-4).

    A value the config file sets itself wins over the stage default.
    """
    import yaml

    chosen = yaml.safe_load(Path(config_file).read_text()) if config_file and Path(config_file).is_file() else None
    sets_lr = isinstance(chosen, dict) and isinstance(chosen.get("optim"), dict) and "lr" in chosen["optim"]
    return ["optim.lr=2e-4"] if stage == 2 and not sets_lr else []


def uses_lora(config: LlavaTrainConfig) -> bool:
    return config.stage == 2 and config.lm_tuning == "lora"


def choose_trainable(model: Any, config: LlavaTrainConfig) -> None:
    """Freeze everything but the projector (stage 1) or the projector + the LM (stage 2: LoRA or all weights)."""
    from openeyes.trainer.freeze import apply_lora

    if uses_lora(config):
        apply_lora(model.model.language_model, config.lora.targets, config.lora.r, config.lora.alpha, config.lora.dropout)
    model.requires_grad_(False)
    model.model.multi_modal_projector.requires_grad_(True)
    if config.train_vision_tower:
        model.model.vision_tower.requires_grad_(True)
    if config.stage == 2:
        for name, param in model.model.language_model.named_parameters():
            param.requires_grad_(config.lm_tuning == "full" or "lora_" in name)
        if config.lm_tuning == "full":
            model.lm_head.requires_grad_(True)


def trainable_name(stage: int, vision_tower: bool = False, lm_tuning: str = "lora"):
    def keep(name: str, param: Any) -> bool:
        if stage == 2 and lm_tuning == "full" and name.startswith((LM_PREFIX, LM_HEAD_PREFIX)):
            return True
        return (name.startswith(PROJECTOR_PREFIX) or (stage == 2 and "lora_" in name)
                or (vision_tower and name.startswith(VISION_PREFIX)))

    return keep


def llava_loss(model: Any, batch: dict) -> dict:
    """transformers' shifted cross-entropy over ``labels`` (-100 ignored)."""
    output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   pixel_values=batch["pixel_values"], labels=batch["labels"])
    answer_tokens = (batch["labels"] != -100).sum().float()
    return {"loss": output.loss, "_answer_tokens": answer_tokens}


def train_llava(config: LlavaTrainConfig) -> Path:
    """Run one stage; returns the artifact directory."""
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.data import ConversationCollate, read_conversations
    from openeyes.mllm.loading import load_mllm
    from openeyes.trainer import Trainer
    from openeyes.trainer.freeze import merge_lora

    config.validate()
    config.trainer.place_beside(config.out)  # unset: a run folder beside the artifact
    resolve_resume(config.trainer.resume, config.trainer.out_dir)  # refuse a used run folder before loading
    model, processor, card = load_mllm(config.mllm)
    dataset = read_conversations(config.data.path, stage=config.stage, image_folder=config.data.image_folder,
                                 limit=config.data.limit)
    collate = ConversationCollate(processor, model.config.image_seq_length, config.data.max_length)
    choose_trainable(model, config)
    model.train()
    name = config.name or Path(config.out).name

    def export(trained, out_dir, summary):
        trained.eval()
        if uses_lora(config):
            merge_lora(trained.model.language_model)
        save_mllm(trained, processor, config.out, name=name, base=card.get("name") or config.mllm,
                  config=to_dict(config), data={"path": dataset.source, "rows": len(dataset), "skipped": dataset.skipped},
                  seed=config.trainer.seed, steps=summary.get("steps"),
                  metrics={"final_log": summary.get("last") or {}}, stage=config.stage,
                  encoder=(card.get("mllm") or {}).get("encoder"), language_model=(card.get("mllm") or {}).get("language_model"))

    trainer = Trainer(config.trainer, config.optim, model, llava_loss, dataset, collate,
                      param_filter=trainable_name(config.stage, config.train_vision_tower, config.lm_tuning), export=export,
                      run_info={"recipe": f"llava_stage{config.stage}", "name": name}, run_config=to_dict(config))
    trainer.train()
    return Path(config.out)

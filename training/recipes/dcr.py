"""``openeyes train dcr --stage 1|2``: enhance an encoder with DCR on a frozen diffusion prior.

One config holds both stages (Algorithm 1 and the reference's two YAMLs):
    stage 1  trains the condition projector h_omega (encoder and prior frozen) and writes it to
             ``projector_out`` (``projector.safetensors`` + ``projector.json``);
    stage 2  starts from that projector (frozen), trains the encoder's vision tower (full, or
             LoRA r=16 on its linear layers, merged at export) and writes an encoder artifact to ``out``.
Each stage is its own resumable trainer run in ``<run_dir>/stage<N>`` (``trainer.out_dir`` is
set from ``run_dir``); ``stage1``/``stage2`` hold each stage's trainer and optimizer settings
(reference: stage 1 AdamW lr 1e-4, wd 0.01, constant; stage 2 lr 1e-5).
``stage2_objectives`` adds weighted encoder objectives (e.g. SaCo, CLIPin) to L_dcr in stage 2
(``openeyes train encoder``'s ``objectives`` entries), for "DCR + SaCo"-style combinations.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openeyes.config import to_dict
from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.training.objectives.dcr import DcrConfig
from openeyes.training.recipes.encoder import InitConfig, LoraSettings, ObjectiveEntry, tower_of
from openeyes.training.recipes.encoder_data import DataConfig, ImageTextCollate, build_dataset


# Each default lives on its own dataclass (not a default_factory): overriding one field of a
# nested config (``stage1.optim.lr=...``) rebuilds that dataclass from its class defaults.
@dataclass
class Stage1Trainer(TrainerConfig):
    steps: int = 1000  # projector-alignment steps
    batch_size: int = 16  # B: the denoiser runs B (K + 2) times per step


@dataclass
class Stage1Optim(OptimConfig):
    lr: float = 1e-4  # reference stage 1: AdamW lr 1e-4, wd 0.01, constant
    weight_decay: float = 0.01
    schedule: Literal["cosine", "constant"] = "constant"


@dataclass
class Stage2Trainer(TrainerConfig):
    steps: int = 500  # encoder-enhancement steps
    batch_size: int = 16


@dataclass
class Stage2Optim(OptimConfig):
    lr: float = 1e-5  # reference stage 2: lr 1e-5 on LoRA adapters
    weight_decay: float = 0.01
    schedule: Literal["cosine", "constant"] = "constant"


@dataclass
class Stage1Settings:
    trainer: Stage1Trainer = field(default_factory=Stage1Trainer)  # loop settings (out_dir comes from run_dir)
    optim: Stage1Optim = field(default_factory=Stage1Optim)  # AdamW + schedule


@dataclass
class Stage2Settings:
    trainer: Stage2Trainer = field(default_factory=Stage2Trainer)  # loop settings (out_dir comes from run_dir)
    optim: Stage2Optim = field(default_factory=Stage2Optim)  # AdamW + schedule


@dataclass
class DcrLoraSettings(LoraSettings):
    enabled: bool = True  # stage 2 trains LoRA adapters on the vision tower (reference), False: full tower


@dataclass
class DcrTrainConfig:
    name: str = "dcr-encoder"  # name of the stage-2 encoder artifact
    run_dir: str = "runs/dcr"  # trainer folders stage1/ and stage2/
    out: str = "runs/dcr/artifact"  # stage 2's encoder artifact
    projector_out: str | None = None  # where stage 1 writes h_omega; None -> <run_dir>/projector
    init: InitConfig = field(default_factory=InitConfig)  # the encoder to enhance (init.encoder: a spec)
    dcr: DcrConfig = field(default_factory=DcrConfig)  # the objective (prior, tau, K, local ratio, t, chunks)
    data: DataConfig = field(default_factory=DataConfig)  # images (captions unused)
    lora: DcrLoraSettings = field(default_factory=DcrLoraSettings)  # stage 2: LoRA (r=16) or the full vision tower
    stage1: Stage1Settings = field(default_factory=Stage1Settings)  # projector alignment
    stage2: Stage2Settings = field(default_factory=Stage2Settings)  # encoder enhancement
    stage2_objectives: list[ObjectiveEntry] = field(default_factory=list)  # extra weighted objectives next to L_dcr (stage 2)
    weights_dtype: Literal["float32", "float16"] = "float32"  # storage dtype of stage 2's encoder weights

    def projector_dir(self) -> Path:
        return Path(self.projector_out or Path(self.run_dir) / "projector")


def _vision_lora_targets(targets: list[str]) -> str:
    """A peft regex restricting the LoRA suffixes to the vision tower."""
    return r".*vision_model.*\.(" + "|".join(targets) + r")$"


def _changing_state(encoder):
    """Checkpoint filter: leave out the encoder's frozen parameters (stage 1: all of them; LoRA: the base
    weights), which the run rebuilds from ``init.encoder``; keep what trains, buffers and objective state."""
    frozen = {f"model.{name}" for name, param in encoder.named_parameters() if not param.requires_grad}
    return lambda name: name not in frozen


def train_dcr(config: DcrTrainConfig, stage: int) -> Path:
    """Run DCR stage ``stage``; return the projector folder (stage 1) or the encoder artifact (stage 2)."""
    from openeyes.encoders.artifact import save_encoder_artifact
    from openeyes.trainer import Trainer
    from openeyes.trainer.freeze import apply_lora, merge_lora
    from openeyes.trainer.resume import resolve_resume
    from openeyes.training.objectives import Composite, WeightedObjective
    from openeyes.training.objectives.dcr import DcrObjective, save_projector
    from openeyes.training.recipes.encoder import build_objectives, build_start_encoder

    if stage not in (1, 2):
        raise UserError(f"--stage must be 1 or 2, got {stage}")
    projector_dir = config.projector_dir()
    dcr_config = dataclasses.replace(config.dcr, stage=stage)
    if stage == 2 and dcr_config.projector is None:
        if not (projector_dir / "projector.safetensors").is_file():
            raise UserError(f"stage 2 needs stage 1's projector; none at {projector_dir} (run --stage 1 first)")
        dcr_config.projector = str(projector_dir)
    settings = config.stage1 if stage == 1 else config.stage2
    trainer_config = dataclasses.replace(settings.trainer, out_dir=str(Path(config.run_dir) / f"stage{stage}"))
    resolve_resume(trainer_config.resume, trainer_config.out_dir)  # refuse a used run folder before building anything

    encoder = build_start_encoder(config.init, config.data).train()
    encoder.requires_grad_(False)
    objective = DcrObjective(dcr_config, encoder)
    if stage == 2:
        if config.lora.enabled:
            apply_lora(encoder.model, _vision_lora_targets(config.lora.targets), config.lora.r, config.lora.alpha,
                       config.lora.dropout)
        else:
            for name, param in encoder.model.named_parameters():
                param.requires_grad_(tower_of(name) == "vision")
    entries = [WeightedObjective(objective)]
    if stage == 2 and config.stage2_objectives:  # after LoRA: CLIPin's EMA copy must have the adapters' names
        extra = build_objectives(config.stage2_objectives, encoder)
        entries += [WeightedObjective(o, w, tw) for o, w, tw in zip(extra.objectives, extra.weights, extra.term_weights)]
    composite = Composite(entries)
    dataset = build_dataset(config.data, encoder.image_size)
    base = config.init.encoder or "tiny-clip (random init)"

    def export(model, out_dir, summary):
        if stage == 1:
            save_projector(objective.conditioner, projector_dir,
                           {**objective.projector_info(), "encoder": base, "steps": summary.get("steps")})
            return
        if config.lora.enabled:
            merge_lora(model.model)
        save_encoder_artifact(model, config.out, name=config.name, base=base, config=to_dict(config),
                              data=to_dict(config.data), seed=trainer_config.seed, steps=summary.get("steps"),
                              metrics={"final_log": summary.get("last") or {}, "dcr_prior": dcr_config.prior},
                              weights_dtype=config.weights_dtype)

    trainer = Trainer(trainer_config, settings.optim, encoder, composite, dataset, ImageTextCollate(encoder.image_size),
                      on_step_end=lambda model, step: composite.on_step_end(model),
                      param_filter=lambda name, param: param.requires_grad, export=export,
                      run_info={"recipe": "dcr", "stage": stage, "name": config.name},
                      checkpoint_filter=_changing_state(encoder) if config.init.encoder else None,
                      run_config={k: v for k, v in to_dict(config).items() if k != f"stage{3 - stage}"})
    trainer.train()
    return projector_dir if stage == 1 else Path(config.out)

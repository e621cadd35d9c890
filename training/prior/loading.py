"""Prior artifacts: ``save_prior`` writes one, ``load_prior`` reads it or a real SD folder.

On disk (diffusers layout, each part loads with its own ``from_pretrained``)::

    unet/           UNet2DConditionModel            scheduler/   DDPMScheduler | FlowMatchEulerDiscreteScheduler
    text_encoder/   transformers CLIPTextModel      tokenizer/   transformers tokenizer
    vae/            AutoencoderKL (latent priors)   openeyes.json  card, kind "prior" (+ "prior": facts)

``load_prior`` also reads a Stable Diffusion 2.1 or 2.1-unCLIP folder (``model_index.json``
with the same sub-folders; unCLIP's image encoder and noising parts are not needed and not
read). The schedule keeps the folder's own ``prediction_type`` (SD-2.1 768: v_prediction,
SD-2.1-base: epsilon), so the DCR target always matches what the UNet predicts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openeyes.artifacts import CARD_NAME, read_card, write_card
from openeyes.errors import UserError
from openeyes.training.prior.model import DiffusionPrior
from openeyes.training.prior.schedule import NoiseSchedule

PARTS = ("unet", "scheduler", "text_encoder", "tokenizer")  # required sub-folders


def save_prior(prior: DiffusionPrior, directory: str | Path, *, name: str, base: str | None = None,
               config: dict[str, Any] | None = None, data: Any = None, seed: int | None = None,
               steps: int | None = None, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``prior`` as a prior artifact (safetensors parts + card) and return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    prior.unet.save_pretrained(directory / "unet")
    prior.schedule.scheduler.save_pretrained(directory / "scheduler")
    prior.text_encoder.save_pretrained(directory / "text_encoder")
    prior.tokenizer.save_pretrained(directory / "tokenizer")
    if prior.vae is not None:
        prior.vae.save_pretrained(directory / "vae")
    facts = {"image_size": prior.image_size, "space": "latent" if prior.vae is not None else "pixel",
             "prediction_type": prior.schedule.prediction_type, "condition_width": prior.condition_width,
             "condition_length": prior.max_length}
    write_card(directory, "prior", name, base=base, config=config, data=data, seed=seed, steps=steps,
               metrics=metrics, extra={"prior": facts})
    return directory


def load_prior(spec: str | Path, device: str = "cpu", verify: bool = True) -> DiffusionPrior:
    """A prior artifact, ``zoo:NAME``, or an SD-2.1 / SD-2.1-unCLIP folder -> frozen ``DiffusionPrior`` (eval)."""
    from openeyes.zoo_registry import resolve as resolve_zoo

    path = Path(resolve_zoo(str(spec))).expanduser()
    if not path.is_dir():
        raise UserError(f"prior {str(spec)!r} not found: give a prior artifact or a diffusers SD folder")
    missing = [part for part in PARTS if not (path / part).is_dir()]
    if missing:
        raise UserError(f"{path} is not a prior: missing sub-folder(s) {', '.join(missing)}")
    image_size = None
    name = path.name
    if (path / CARD_NAME).is_file():
        card = read_card(path, verify=verify, kind="prior")
        image_size = card.get("prior", {}).get("image_size")
        name = card.get("name") or name
    elif (path / "model_index.json").is_file():
        index = json.loads((path / "model_index.json").read_text())
        name = f"{index.get('_class_name', 'pipeline')}:{path.name}"
    prior = DiffusionPrior(
        _load_unet(path), NoiseSchedule(_load_scheduler(path)), _load_text_encoder(path), _load_tokenizer(path),
        _load_vae(path), image_size=image_size, name=name,
    )
    prior.requires_grad_(False)
    return prior.to(device).eval()


def _load_unet(path: Path):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(path / "unet")


def _load_scheduler(path: Path):
    """The folder's training schedule: flow-matching schedulers as they are, any other as DDPM."""
    from diffusers import DDPMScheduler, FlowMatchEulerDiscreteScheduler

    config = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
    if str(config.get("_class_name", "")).startswith("FlowMatch"):
        return FlowMatchEulerDiscreteScheduler.from_pretrained(path / "scheduler")
    # SD folders ship a sampling scheduler (PNDM/DDIM/...) whose config holds the training betas.
    return DDPMScheduler.from_config({k: v for k, v in config.items() if not k.startswith("_")})


def _load_text_encoder(path: Path):
    from transformers import CLIPTextModel

    return CLIPTextModel.from_pretrained(path / "text_encoder")


def _load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path / "tokenizer")


def _load_vae(path: Path):
    if not (path / "vae").is_dir():
        return None
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(path / "vae")

"""``openeyes train``: the training layer's commands (encoder, prior, dcr)."""
from __future__ import annotations

from typing import List, Optional

import typer

from openeyes.trainer.options import FORCE_RESUME, RESUME, resume_overrides

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Train and enhance encoders on the core trainer.")


@app.callback()
def _group() -> None:
    """Train and enhance encoders on the core trainer."""


@app.command("encoder", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def encoder(
    config: Optional[str] = typer.Option(None, "--config", help="YAML config (EncoderTrainConfig)"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. trainer.steps=100"),
    resume: bool = RESUME,
    force_resume: bool = FORCE_RESUME,
) -> None:
    """Train or continue-pretrain an encoder with weighted objectives; writes an encoder artifact."""
    from openeyes.config import load_config
    from openeyes.training.recipes.encoder import EncoderTrainConfig, train_encoder

    settings = load_config(EncoderTrainConfig, config, [*resume_overrides(resume, force_resume), *(overrides or [])])
    settings.trainer.validate()
    settings.optim.validate()
    out = train_encoder(settings)
    typer.echo(f"encoder artifact: {out}")


@app.command("prior", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def prior(
    config: Optional[str] = typer.Option(None, "--config", help="YAML config (PriorTrainConfig)"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. trainer.steps=100"),
    resume: bool = RESUME,
    force_resume: bool = FORCE_RESUME,
) -> None:
    """Train the text-conditioned diffusion prior on world captions; writes a prior artifact."""
    from openeyes.config import load_config
    from openeyes.training.recipes.prior import PriorTrainConfig, train_prior

    settings = load_config(PriorTrainConfig, config, [*resume_overrides(resume, force_resume), *(overrides or [])])
    settings.trainer.validate()
    settings.optim.validate()
    out = train_prior(settings)
    typer.echo(f"prior artifact: {out}")


@app.command("prior-gates")
def prior_gates(
    prior: str = typer.Option(..., "--prior", help="prior artifact, zoo:NAME or SD folder"),
    out: str = typer.Option(..., "--out", help="folder for gates.json and gates.md"),
    world_seed: int = typer.Option(100, "--world-seed", help="held-out world seed (test split) of images and pairs"),
    n_images: int = typer.Option(256, "--n-images", help="test images for the condition gain"),
    units: int = typer.Option(1, "--units", help="pair units (9 patterns x 15 pairs each)"),
    pair_draws: int = typer.Option(8, "--pair-draws", help="(t, noise) draws per pair image"),
    seed: int = typer.Option(0, "--seed", help="noise and timestep draws"),
) -> None:
    """The prior's gates: condition gain per timestep band and attribute sensitivity per MMVP pattern."""
    import json

    from openeyes.errors import UserError
    from openeyes.training.prior.gates import GateSettings, run_gates, write_gates
    from openeyes.training.prior.loading import load_prior

    if n_images < 2 or units < 1 or pair_draws < 1:
        raise UserError("--n-images must be >= 2, --units and --pair-draws >= 1")
    settings = GateSettings(world_seed=world_seed, n_images=n_images, units=units, pair_draws=pair_draws, seed=seed)
    result = run_gates(load_prior(prior), settings)
    result["prior_spec"] = prior
    write_gates(result, out)
    typer.echo(json.dumps(result["summary"] | {"condition_gain": [round(r["gain"], 4) for r in result["condition_gain"]],
                                               "accuracy": {k: v["accuracy"] for k, v in result["attribute_sensitivity"].items()}}))


@app.command("dcr", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def dcr(
    stage: int = typer.Option(..., "--stage", help="1: train the projector h_omega; 2: train the encoder"),
    config: Optional[str] = typer.Option(None, "--config", help="YAML config (DcrTrainConfig)"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. stage1.trainer.steps=100"),
    resume: bool = RESUME,
    force_resume: bool = FORCE_RESUME,
) -> None:
    """DCR on a frozen diffusion prior: stage 1 writes the projector, stage 2 the enhanced encoder."""
    from openeyes.config import load_config
    from openeyes.errors import UserError
    from openeyes.training.recipes.dcr import DcrTrainConfig, train_dcr

    if stage not in (1, 2):
        raise UserError(f"--stage must be 1 or 2, got {stage}")
    flags = resume_overrides(resume, force_resume, prefix=f"stage{stage}.trainer.")
    settings = load_config(DcrTrainConfig, config, [*flags, *(overrides or [])])
    settings.dcr.validate()
    out = train_dcr(settings, stage)
    typer.echo(f"dcr stage {stage}: {out}")


def entry() -> None:
    """``python -m openeyes.training.cli`` (what ``accelerate launch`` runs)."""
    from openeyes.cli import main

    raise SystemExit(main(["train", *__import__("sys").argv[1:]]))


if __name__ == "__main__":
    entry()

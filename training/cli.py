"""``openeyes train``: the training layer's commands (encoders now; the prior and DCR join later)."""
from __future__ import annotations

from typing import List, Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Train and enhance encoders on the core trainer.")


@app.callback()
def _group() -> None:
    """Train and enhance encoders on the core trainer."""


@app.command("encoder", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def encoder(
    config: Optional[str] = typer.Option(None, "--config", help="YAML config (EncoderTrainConfig)"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. trainer.steps=100"),
) -> None:
    """Train or continue-pretrain an encoder with weighted objectives; writes an encoder artifact."""
    from openeyes.config import load_config
    from openeyes.training.recipes.encoder import EncoderTrainConfig, train_encoder

    settings = load_config(EncoderTrainConfig, config, overrides or [])
    settings.trainer.validate()
    settings.optim.validate()
    out = train_encoder(settings)
    typer.echo(f"encoder artifact: {out}")


def entry() -> None:
    """``python -m openeyes.training.cli`` (what ``accelerate launch`` runs)."""
    from openeyes.cli import main

    raise SystemExit(main(["train", *__import__("sys").argv[1:]]))


if __name__ == "__main__":
    entry()

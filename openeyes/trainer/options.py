"""The resume flags every training command shares: ``--resume`` and ``--force-resume``.

They turn into config overrides placed *before* the user's ``key=value`` ones, so an explicit
``trainer.resume=PATH`` still wins (``--force-resume`` then only lifts the config check).
"""
from __future__ import annotations

import typer

RESUME = typer.Option(False, "--resume", help="continue the latest checkpoint of the run folder (trainer.resume=auto); "
                                              "without it a run folder holding checkpoints is refused")
FORCE_RESUME = typer.Option(False, "--force-resume", help="resume even when the checkpoint was made with a different "
                                                          "config (trainer.force_resume=true); implies --resume")


def resume_overrides(resume: bool, force_resume: bool, prefix: str = "trainer.") -> list[str]:
    """``key=value`` overrides for the flags; ``prefix`` is where the trainer section sits."""
    found = [f"{prefix}resume=auto"] if resume or force_resume else []
    return found + ([f"{prefix}force_resume=true"] if force_resume else [])

"""``openeyes world``: generate the synthetic world's datasets and benchmark exports."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="The synthetic world: procedural scenes, datasets and benchmark exports.")

GENERATE_HELP = (
    "Write the world's exports under OUT (one folder each) plus a world.json manifest.\n\n"
    "N scales every set: N images each for llava_pretrain, llava_instruct, retrieval (5 captions each) "
    "scene_text (N text-only described scenes with questions, no images) and pope (6 questions each, 3 settings); max(N, 88) images for classification; N items per task "
    "for cv_bench (Count, Relation, Depth, Distance); and max(1, N // 135) units of 135 pairs for "
    "mmvp_vlm (270 images per unit), mmvp (270 questions per unit), naturalbench (270 groups, "
    "540 images per unit) and attribute_probe (a train and a test split of 270 labelled images per unit each).\n\n"
    "Benchmarks come from the test split. The same seed gives byte-identical files. Output is staged "
    "in a temporary folder and moved into place at the end: an export already in OUT is replaced, "
    "and a failure leaves OUT as it was."
)


@app.callback()
def world() -> None:
    """The synthetic world: procedural scenes, datasets and benchmark exports."""


@app.command(help=GENERATE_HELP)
def generate(
    out: Path = typer.Option(..., "--out", help="Output directory (created if missing)."),
    seed: int = typer.Option(0, "--seed", help="World seed (>= 0)."),
    n: int = typer.Option(1000, "--n", help="Scale: images per set (see above)."),
    size: int = typer.Option(64, "--size", help="Image side in pixels (>= 16)."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated export names (default: all)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of WorldConfig fields."),
    set_: list[str] = typer.Option([], "--set", help="WorldConfig override key=value (repeatable)."),
) -> None:
    from openeyes.config import load_config
    from openeyes.world.config import WorldConfig
    from openeyes.world.generate import generate_world, parse_only

    names = parse_only(only)
    world_config = load_config(WorldConfig, config, list(set_))
    manifest = generate_world(out, seed=seed, n=n, size=size, names=names, config=world_config)
    written = names or manifest["exports"]
    kept = [name for name in manifest["exports"] if name not in written]
    typer.echo(f"wrote {', '.join(written)} to {out}" + (f" (kept: {', '.join(kept)})" if kept else ""))


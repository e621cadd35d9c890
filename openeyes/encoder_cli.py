"""``openeyes encoder``: prepare encoders ahead of use.

``encoder export-onnx --encoder SPEC [--engine onnx-int8] [--force]`` builds the int8 onnxruntime
engine of an encoder (``openeyes.encoders.onnx_engine``) into its cache beside the artifact (or the
engine cache dir), checks it against torch on the probe batch and prints the measured cosines, so
that a later ``--engine onnx-int8`` load only reads and re-checks it.
"""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Prepare encoders: build the int8 ONNX engine ahead of serving or evaluation.")


@app.callback()
def _group() -> None:
    """Prepare encoders: build the int8 ONNX engine ahead of serving or evaluation."""


@app.command("export-onnx")
def export_onnx_command(
    encoder: str = typer.Option(..., "--encoder", help="encoder spec: zoo:NAME, artifact dir, HF dir/id or open_clip:..."),
    engine: str = typer.Option("onnx-int8", "--engine", help="engine to build (onnx-int8)"),
    text: bool = typer.Option(True, "--text/--no-text", help="also run the text tower in int8"),
    force: bool = typer.Option(False, "--force", help="rebuild even when a cached engine exists"),
) -> None:
    """Export + quantise an encoder's towers, check them against torch, cache them."""
    from pathlib import Path

    from openeyes.encoders.loading import encoder_source, load_encoder
    from openeyes.encoders.onnx_engine import TORCH, EngineConfig, build_engine, check_engine
    from openeyes.errors import UserError

    engine = check_engine(engine)
    if engine == TORCH:
        raise UserError("--engine torch needs no export; choose onnx-int8")
    source = encoder_source(encoder)
    built = build_engine(load_encoder(encoder), source if Path(source).is_dir() else None,
                         EngineConfig(engine=engine, text=text), rebuild=force)
    cosines = ", ".join(f"{tower} {value:.5f}" for tower, value in built.checked.items())
    typer.echo(f"{engine} engine of {built.name}: {built.engine_dir} (probe cosine vs torch: {cosines})")

"""``openeyes convert``: import third-party encoders into openeyes encoder artifacts.

``convert open-clip --model open_clip:NAME[/TAG|@CKPT] --out DIR`` runs the open_clip -> HF
``CLIPModel`` converter (``openeyes.encoders.convert_openclip``), writes the artifact, reloads it
and prints how far its embeddings are from open_clip's own forward pass on the same inputs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from openeyes.errors import UserError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Import third-party encoders (open_clip) as openeyes encoder artifacts.")

CHECK_CAPTIONS = ["a photo of a cat", "two red squares left of a blue circle", "!"]


@app.callback()
def _group() -> None:
    """Import third-party encoders (open_clip) as openeyes encoder artifacts."""


@app.command("open-clip")
def open_clip_command(
    model: str = typer.Option(..., "--model", help="open_clip:NAME (random init), open_clip:NAME/TAG, or "
                                                   "open_clip:NAME@CHECKPOINT (.pt/.pth/.ckpt/.bin/.safetensors)"),
    out: Path = typer.Option(..., "--out", help="where the encoder artifact (HF CLIPModel + card) goes"),
    name: Optional[str] = typer.Option(None, "--name", help="artifact name (default: the out folder's name)"),
    check: bool = typer.Option(True, help="reload the artifact and report its largest embedding difference"),
) -> None:
    """Convert an open_clip ViT CLIP into a transformers CLIPModel encoder artifact."""
    from openeyes.encoders.convert_openclip import save_openclip_artifact
    from openeyes.encoders.loading import OPEN_CLIP_PREFIX, load_encoder

    spec = model.strip()
    if not spec.startswith(OPEN_CLIP_PREFIX):
        spec = OPEN_CLIP_PREFIX + spec  # "ViT-B-32@ckpt.pt" means the same
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not an empty folder; choose a new one")
    source = load_encoder(spec)
    save_openclip_artifact(source, out, name=name or out.name, base=spec, config={"spec": spec})
    typer.echo(f"wrote {out} (transformers CLIPModel; load with --encoder {out})")
    if check:
        image, text = largest_differences(source, load_encoder(str(out)))
        typer.echo(f"check: max |open_clip - converted| image embedding {image:.2e}, text embedding {text:.2e}")


def largest_differences(source, converted) -> tuple[float, float]:
    """Largest absolute embedding difference, image and text, on seeded random pixels and fixed captions."""
    import torch

    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 3, source.image_size, source.image_size, generator=generator)  # [2, 3, H, W]
    with torch.no_grad():
        image = (source.encode_image(pixels) - converted.encode_image(pixels)).abs().max().item()
        text = (source.encode_text(source.tokenize(CHECK_CAPTIONS))
                - converted.encode_text(converted.tokenize(CHECK_CAPTIONS))).abs().max().item()
    return image, text

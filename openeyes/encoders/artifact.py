"""Write an encoder as an openeyes artifact: transformers files (safetensors) + ``openeyes.json``.

The directory loads with ``transformers.AutoModel``/``AutoProcessor``/``AutoTokenizer`` like any
HF checkpoint, and with ``openeyes.encoders.loading.load_encoder``, which verifies the card's
sha256 of every weight file first.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from openeyes.artifacts import write_card
from openeyes.errors import UserError

BACKEND_KEY = "encoder"  # card field describing the saved model (family, sizes)


def describe_encoder(encoder: Any) -> dict[str, Any]:
    """The protocol facts worth recording on the card (reader-friendly, not needed for loading)."""
    return {
        "family": "siglip" if getattr(encoder, "is_siglip", False) else "clip",
        "image_size": encoder.image_size,
        "patch_size": encoder.patch_size,
        "embed_dim": encoder.embed_dim,
        "vision_width": encoder.vision_width,
    }


def save_encoder_artifact(
    encoder: Any,
    out_dir: str | Path,
    *,
    name: str,
    base: str | None = None,
    config: dict[str, Any] | None = None,
    data: Any = None,
    seed: int | None = None,
    steps: int | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Save ``encoder`` (HF or open_clip backend) in the transformers layout and write its card."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"cannot write an encoder artifact to {out_dir}: it is a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder.save(out_dir)  # the open_clip backend converts to a transformers CLIPModel here
    write_card(
        out_dir,
        "encoder",
        name,
        base=base,
        config=config,
        data=data,
        seed=seed,
        steps=steps,
        metrics=metrics,
        extra={BACKEND_KEY: describe_encoder(encoder)},
    )
    return out_dir

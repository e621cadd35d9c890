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
    weights_dtype: str = "float32",
) -> Path:
    """Save ``encoder`` (HF or open_clip backend) in the transformers layout and write its card.

    ``weights_dtype="float16"`` stores floating-point weights in half precision (the zoo's
    shipped weights, to stay small); loaders read them back as float32.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"cannot write an encoder artifact to {out_dir}: it is a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder.save(out_dir)  # the open_clip backend converts to a transformers CLIPModel here
    if weights_dtype != "float32":
        cast_safetensors(out_dir, weights_dtype)
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


def cast_safetensors(directory: str | Path, dtype: str) -> None:
    """Rewrite every ``*.safetensors`` file under ``directory`` with floating tensors in ``dtype``."""
    import torch
    from safetensors.torch import load_file, save_file

    target = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}.get(dtype)
    if target is None:
        raise UserError(f"unsupported weights dtype {dtype!r}; use float32, float16 or bfloat16")
    for path in sorted(Path(directory).rglob("*.safetensors")):
        tensors = load_file(path)
        cast = {k: v.to(target) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(cast, path, metadata={"format": "pt"})
    if (Path(directory) / "openeyes.json").is_file():
        from openeyes.artifacts import refresh_card_hashes

        refresh_card_hashes(directory)

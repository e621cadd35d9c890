"""``load_encoder(spec)``: one entry point from a user's string to an ``Encoder``.

Specs, tried in this order:

- ``open_clip:<model_name>`` (random init), ``open_clip:<model_name>/<pretrained_tag>``,
  ``open_clip:<model_name>@<checkpoint path>`` (open_clip-style state dict: full model or
  visual only, ``.pt/.pth/.ckpt/.bin`` via ``torch.load(weights_only=True)`` or ``.safetensors``)
- an openeyes encoder artifact directory (has ``openeyes.json``; hashes verified first)
- a plain transformers directory (has ``config.json``)
- a Hugging Face hub id such as ``openai/clip-vit-base-patch32`` (needs the hub or its cache;
  ``openeyes.hub.locate`` fails fast when neither answers)

``engine="onnx-int8"`` wraps the loaded encoder in the int8 onnxruntime engine
(``openeyes.encoders.onnx_engine``; CPU only, checked against torch at load).
"""
from __future__ import annotations

from pathlib import Path

from openeyes.artifacts import CARD_NAME, read_card
from openeyes.encoders.protocol import Encoder
from openeyes.errors import UserError
from openeyes.hub import load_failure, locate
from openeyes.zoo_registry import resolve as resolve_zoo

OPEN_CLIP_PREFIX = "open_clip:"
ACCEPTED = "an encoder artifact or transformers directory, an HF hub id, open_clip:<model>[@ckpt] or zoo:NAME"


def encoder_source(spec: str) -> str:
    """What ``spec`` points to (an ``open_clip:`` spec, a directory or a readable hub id), checked
    without loading anything: a typo fails here in one line."""
    spec = str(spec).strip()
    if not spec:
        raise UserError(f"empty encoder spec; give {ACCEPTED}")
    spec = resolve_zoo(spec)  # zoo:NAME -> the built zoo folder
    if spec.startswith(OPEN_CLIP_PREFIX):
        return spec
    if Path(spec).expanduser().is_file():
        raise UserError(f"encoder {spec} is a file; give a directory, an HF id or open_clip:<model>@{spec}")
    return locate(spec, "encoder", ACCEPTED)


def load_encoder(spec: str, device: str = "cpu", verify: bool = True, engine: str = "torch") -> Encoder:
    """Resolve ``spec`` (see module docstring) to an encoder on ``device`` in eval mode, run by ``engine``
    ("torch", or "onnx-int8" on the CPU)."""
    from openeyes.encoders.onnx_engine import TORCH, build_engine, check_engine

    engine = check_engine(engine, device)
    source = encoder_source(spec)
    if source.startswith(OPEN_CLIP_PREFIX):
        from openeyes.encoders.openclip_backend import load_openclip_spec

        encoder = load_openclip_spec(source[len(OPEN_CLIP_PREFIX):])
    else:
        encoder = _load_directory(Path(source), verify) if Path(source).is_dir() else _load_hub_id(source)
    encoder = encoder.to(device).eval()
    if engine == TORCH:
        return encoder
    return build_engine(encoder, source if Path(source).is_dir() else None)


def _load_directory(path: Path, verify: bool) -> Encoder:
    from openeyes.encoders.hf_backend import HFEncoder

    if (path / CARD_NAME).is_file():
        card = read_card(path, verify=verify, kind="encoder")
        return _from_pretrained(HFEncoder, str(path), name=card.get("name") or path.name)
    if (path / "config.json").is_file():
        return _from_pretrained(HFEncoder, str(path), name=path.name)
    raise UserError(f"{path} is neither an openeyes encoder artifact ({CARD_NAME}) nor a transformers directory (config.json)")


def _from_pretrained(cls, source: str, name: str):
    try:
        return cls.from_pretrained(source, name=name)
    except ValueError as problem:  # e.g. a model type HFEncoder does not wrap
        raise UserError(f"cannot load encoder {source!r}: {problem}") from None


def _load_hub_id(spec: str) -> Encoder:
    from openeyes.encoders.hf_backend import HFEncoder

    try:
        return HFEncoder.from_pretrained(spec, name=spec)
    except (OSError, ValueError) as problem:  # no such repo on the hub, or a model type HFEncoder does not wrap
        raise load_failure("encoder", spec, problem) from None

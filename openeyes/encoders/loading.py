"""``load_encoder(spec)``: one entry point from a user's string to an ``Encoder``.

Specs, tried in this order:

- ``open_clip:<model_name>`` (random init), ``open_clip:<model_name>/<pretrained_tag>``,
  ``open_clip:<model_name>@<checkpoint path>`` (open_clip-style state dict: full model or
  visual only, ``.pt/.pth/.ckpt/.bin`` via ``torch.load(weights_only=True)`` or ``.safetensors``)
- an openeyes encoder artifact directory (has ``openeyes.json``; hashes verified first)
- a plain transformers directory (has ``config.json``)
- a Hugging Face hub id such as ``openai/clip-vit-base-patch32`` (needs the hub or its cache)
"""
from __future__ import annotations

from pathlib import Path

from openeyes.artifacts import CARD_NAME, read_card
from openeyes.encoders.protocol import Encoder
from openeyes.errors import UserError
from openeyes.zoo_registry import resolve as resolve_zoo

OPEN_CLIP_PREFIX = "open_clip:"
_HUB_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")


def load_encoder(spec: str, device: str = "cpu", verify: bool = True) -> Encoder:
    """Resolve ``spec`` (see module docstring) to an encoder on ``device`` in eval mode."""
    spec = str(spec).strip()
    if not spec:
        raise UserError("empty encoder spec; give an artifact dir, an HF dir or id, or open_clip:<model>")
    spec = resolve_zoo(spec)  # zoo:NAME -> the built zoo folder
    if spec.startswith(OPEN_CLIP_PREFIX):
        from openeyes.encoders.openclip_backend import load_openclip_spec

        encoder = load_openclip_spec(spec[len(OPEN_CLIP_PREFIX):])
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            encoder = _load_directory(path, verify)
        elif path.exists():
            raise UserError(f"encoder spec {spec!r} is a file; give a directory, an HF id or open_clip:<model>@{spec}")
        elif _looks_like_hub_id(spec):
            encoder = _load_hub_id(spec)
        else:
            raise UserError(f"encoder {spec!r} not found: no such directory, and not an HF hub id or open_clip:<model> spec")
    return encoder.to(device).eval()


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


def _looks_like_hub_id(spec: str) -> bool:
    """``name`` or ``org/name`` made of hub-safe characters (no absolute or relative path)."""
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or not set(spec) <= _HUB_ID_CHARS:
        return False
    return all(part and not part.startswith(".") for part in spec.split("/"))


def _load_hub_id(spec: str) -> Encoder:
    from openeyes.encoders.hf_backend import HFEncoder

    try:
        return HFEncoder.from_pretrained(spec, name=spec)
    except (OSError, EnvironmentError) as problem:
        raise UserError(
            f"could not load encoder {spec!r}: it is no local directory, and the Hugging Face hub id could not be "
            f"fetched (offline, or no such repo; download it once or pass a local path). Detail: {str(problem).splitlines()[0]}"
        ) from None
    except ValueError as problem:
        raise UserError(f"cannot load encoder {spec!r}: {problem}") from None

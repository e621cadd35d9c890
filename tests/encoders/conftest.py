"""Shared tiny tokenizer/encoders for the encoder tests (built once per session, all random init)."""
import pytest

import openeyes  # noqa: F401

CAPTIONS = [
    "a red circle left of a blue square",
    "two green triangles above a yellow star",
    "a small purple square below a large orange circle",
    "three blue stars in a row",
    "an empty gray background",
] * 8


@pytest.fixture(scope="session")
def caption_tokenizer():
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    return train_caption_tokenizer(CAPTIONS, vocab_size=400, max_length=16)


@pytest.fixture(scope="session")
def tiny_clip(caption_tokenizer):
    from openeyes.encoders.tiny import build_tiny_clip

    return build_tiny_clip(caption_tokenizer, image_size=32, patch_size=8, vision_width=64, vision_mlp=128,
                           text_width=32, text_layers=2, embed_dim=24)


@pytest.fixture(scope="session")
def tiny_siglip(caption_tokenizer):
    from openeyes.encoders.tiny import build_tiny_siglip

    return build_tiny_siglip(caption_tokenizer, image_size=32, patch_size=8, vision_width=32, text_width=32)


@pytest.fixture(scope="session")
def tiny_artifact(tiny_clip, tmp_path_factory):
    from openeyes.encoders.artifact import save_encoder_artifact

    out = tmp_path_factory.mktemp("artifact") / "tiny-clip"
    return save_encoder_artifact(tiny_clip, out, name="tiny-clip", base="random", seed=0, steps=0,
                                 config={"image_size": 32}, metrics={"note": 1.0})

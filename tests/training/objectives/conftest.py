"""Shared tiny encoders and batches for the objective tests (random init, built in well under a second)."""
import pytest
import torch

import openeyes  # noqa: F401

CAPTIONS = [
    "a red circle left of a blue square",
    "two green triangles above a yellow star",
    "a small purple square below a large orange circle",
    "three blue stars in a row",
    "an empty gray background",
    "a big red triangle",
] * 6

TINY = dict(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64,
            text_width=32, text_layers=1, text_heads=2, embed_dim=16)


@pytest.fixture(scope="session")
def caption_tokenizer():
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    return train_caption_tokenizer(CAPTIONS, vocab_size=300, max_length=12)


@pytest.fixture(scope="session")
def tiny_recipe():
    """What the tiny encoders are built from, for tests that rebuild them in other processes."""
    return {"captions": CAPTIONS, "tiny": TINY}


@pytest.fixture
def make_encoder(caption_tokenizer):
    """Builder of fresh trainable tiny CLIPs: ``make_encoder(seed=0, **tiny_clip_overrides)``."""
    from openeyes.encoders.tiny import build_tiny_clip

    def build(seed=0, **overrides):
        return build_tiny_clip(caption_tokenizer, seed=seed, **{**TINY, **overrides}).train()

    return build


@pytest.fixture
def tiny_encoder(make_encoder):
    """A fresh trainable tiny CLIP per test (tests step optimizers on it)."""
    return make_encoder(seed=0)


def _make_batch(size=6, image_size=32, seed=0, duplicate_caption=True):
    generator = torch.Generator().manual_seed(seed)
    texts = [CAPTIONS[i % 6] for i in range(size)]
    if duplicate_caption and size > 2:
        texts[2] = texts[0]  # identical captions -> identical text embedding rows
    return {
        "images": torch.rand(size, 3, image_size, image_size, generator=generator),
        "texts": texts,
        "index": torch.arange(size) + 100 * seed,
    }


@pytest.fixture
def make_batch():
    """Builder of batches ``{"images", "texts", "index"}``; caption 2 repeats caption 0."""
    return _make_batch


@pytest.fixture
def batch():
    return _make_batch()

"""Shared tiny pieces for the prior tests: single-threaded torch and a caption tokenizer."""
import pytest
import torch

import openeyes  # noqa: F401

CAPTIONS = ["a red circle left of a blue square", "two green triangles above a yellow star",
            "a small purple square below a large orange circle", "three blue stars in a row"] * 8



@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def caption_tokenizer():
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    return train_caption_tokenizer(CAPTIONS, vocab_size=300, max_length=12)

"""Shared fixtures of the encoder-benchmark tests (the writers live in encoder_fixtures.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from encoder_fixtures import write_flickr, write_imagefolder, write_mmvp_vlm


@pytest.fixture
def world_like_root(tmp_path) -> Path:
    """A root like a world export: mmvp_vlm/, classification/, retrieval/."""
    root = tmp_path / "export"
    write_mmvp_vlm(root / "mmvp_vlm")
    write_imagefolder(root / "classification")
    write_flickr(root / "retrieval")
    return root

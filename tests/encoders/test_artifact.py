"""Encoder artifacts: card + transformers files; hashes checked on load; tampering refused."""
import json

import pytest
import torch
from transformers import AutoModel

from openeyes.artifacts import read_card
from openeyes.encoders.loading import load_encoder
from openeyes.errors import UserError


def test_card_lists_hashed_weights(tiny_artifact):
    card = read_card(tiny_artifact, kind="encoder")
    assert card["name"] == "tiny-clip" and card["base"] == "random" and card["seed"] == 0
    assert "model.safetensors" in card["files"]
    assert card["encoder"]["embed_dim"] == 24 and card["metrics"] == {"note": 1.0}


def test_auto_model_loads_artifact(tiny_artifact, tiny_clip):
    model = AutoModel.from_pretrained(tiny_artifact)
    for name, tensor in tiny_clip.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_load_encoder_round_trip(tiny_artifact, tiny_clip):
    encoder = load_encoder(str(tiny_artifact))
    assert encoder.name == "tiny-clip"
    pixels = torch.rand(2, 3, 32, 32)
    tokens = tiny_clip.tokenize(["a red circle", "two green triangles"])
    with torch.no_grad():
        assert torch.allclose(encoder.encode_image(pixels), tiny_clip.encode_image(pixels), atol=1e-6)
        assert torch.allclose(encoder.encode_text(encoder.tokenize(["a red circle", "two green triangles"])),
                              tiny_clip.encode_text(tokens), atol=1e-6)


def test_tampered_weights_are_refused(tiny_artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_artifact, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match its card"):
        load_encoder(str(copy))
    load_encoder(str(copy), verify=False)  # explicit opt-out still loads


def test_wrong_kind_is_refused(tiny_artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_artifact, copy)
    card = json.loads((copy / "openeyes.json").read_text())
    card["kind"] = "prior"
    (copy / "openeyes.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="expected 'encoder'"):
        load_encoder(str(copy))

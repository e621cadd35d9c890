"""load_encoder spec parsing: plain HF dirs, hub ids offline, unknown specs and missing paths."""
import pytest
import torch

from openeyes.encoders.hf_backend import HFEncoder
from openeyes.encoders.loading import load_encoder
from openeyes.errors import UserError


def test_plain_hf_directory(tiny_siglip, tmp_path):
    tiny_siglip.save(tmp_path / "siglip")
    encoder = load_encoder(str(tmp_path / "siglip"))
    assert isinstance(encoder, HFEncoder) and encoder.is_siglip and not encoder.training
    pixels = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(encoder.encode_image(pixels), tiny_siglip.encode_image(pixels), atol=1e-6)


def test_hub_id_offline_is_a_clear_user_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="as a hub id it cannot be fetched: HF_HUB_OFFLINE is set"):
        load_encoder("openeyes-test/definitely-not-cached-clip")


@pytest.mark.parametrize("spec", ["./missing-dir", "/no/such/encoder", "a/b/c", "", "weird name!"])
def test_missing_paths_and_unknown_specs(spec):
    with pytest.raises(UserError) as error:
        load_encoder(spec)
    assert spec.strip() == "" or spec in str(error.value)


def test_directory_without_model_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="neither an openeyes encoder artifact"):
        load_encoder(str(tmp_path))


def test_file_instead_of_directory(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"x")
    with pytest.raises(UserError, match="is a file"):
        load_encoder(str(path))

"""OpenClipEncoder: protocol, shapes, tokenization mask, image tokens, open_clip: specs, checkpoints."""
import pytest
import torch
from PIL import Image

from openeyes.encoders.loading import load_encoder
from openeyes.encoders.openclip_backend import OpenClipEncoder, parse_openclip_spec
from openeyes.encoders.protocol import Encoder
from openeyes.errors import UserError

from .openclip_models import register_tiny_config, tiny_openclip


@pytest.fixture(scope="module")
def encoder():
    import open_clip

    return OpenClipEncoder(tiny_openclip(), tokenizer=open_clip.SimpleTokenizer(context_length=16), name="tiny")


def test_protocol_and_shapes(encoder):
    assert isinstance(encoder, Encoder)
    assert (encoder.image_size, encoder.patch_size, encoder.embed_dim, encoder.vision_width) == (32, 8, 24, 32)
    pixels = encoder.preprocess([Image.new("RGB", (50, 40), (10, 200, 10)), Image.new("RGB", (32, 32))])
    assert pixels.shape == (2, 3, 32, 32)
    tokens = encoder.tokenize(["a photo of a cat", "!"])
    assert tokens["input_ids"].shape == (2, 16)
    # "!" is token id 0, the same as open_clip's padding: the mask still covers it (up to eot)
    assert tokens["attention_mask"][1].tolist()[:4] == [1, 1, 1, 0]
    with torch.no_grad():
        assert encoder.encode_image(pixels).shape == (2, 24)
        assert encoder.encode_text(tokens).shape == (2, 24)
        assert encoder.image_tokens(pixels).shape == (2, 17, 32)
    assert encoder.logit_scale is encoder.model.logit_scale and encoder.logit_bias is None


def test_image_tokens_follow_hidden_state_indexing(encoder):
    pixels = torch.randn(2, 3, 32, 32)
    visual = encoder.model.visual
    with torch.no_grad():
        x = visual._embeds(pixels)
        expected = [x]
        for block in visual.transformer.resblocks:
            x = block(x)
            expected.append(x)
        for layer in range(3):
            assert torch.allclose(encoder.image_tokens(pixels, layer), expected[layer], atol=1e-6)
        assert torch.allclose(encoder.image_tokens(pixels, -1), expected[2], atol=1e-6)
        assert torch.allclose(encoder.image_tokens(pixels, -2), expected[1], atol=1e-6)
    with pytest.raises(UserError, match="out of range"):
        encoder.image_tokens(pixels, 3)


def test_preprocess_matches_open_clip_transform(encoder):
    import open_clip

    transform = open_clip.image_transform(32, is_train=False)
    image = Image.linear_gradient("L").resize((64, 40)).convert("RGB")
    assert (encoder.preprocess([image])[0] - transform(image)).abs().mean() < 0.03


@pytest.mark.parametrize("spec,expected", [
    ("ViT-B-32", ("ViT-B-32", None, None)),
    ("ViT-B-32/openai", ("ViT-B-32", "openai", None)),
    ("ViT-B-32@/ckpt/x.pt", ("ViT-B-32", None, "/ckpt/x.pt")),
    ("hf-hub:org/repo", ("hf-hub:org/repo", None, None)),
])
def test_parse_spec(spec, expected):
    assert parse_openclip_spec(spec) == expected


def test_spec_errors(tmp_path):
    with pytest.raises(UserError, match="unknown open_clip model 'NoSuchNet'"):
        load_encoder("open_clip:NoSuchNet")
    with pytest.raises(UserError, match="not found"):
        load_encoder(f"open_clip:ViT-B-32@{tmp_path / 'missing.pt'}")
    with pytest.raises(UserError, match="needs a model name"):
        load_encoder("open_clip:")


def test_pretrained_tag_offline_is_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = register_tiny_config(tmp_path)
    with pytest.raises(UserError, match="could not create open_clip model"):
        load_encoder(f"open_clip:{name}/no-such-tag")


def _reference_outputs(model, pixels, ids):
    with torch.no_grad():
        return model.encode_image(pixels), model.encode_text(ids)


@pytest.mark.parametrize("layout", ["full", "full-ddp", "diva-wrapper", "visual", "visual-prefixed", "safetensors"])
def test_checkpoint_import(layout, tmp_path):
    name = register_tiny_config(tmp_path)
    source = tiny_openclip(quick_gelu=True, seed=7)
    state = source.state_dict()
    visual_state = source.visual.state_dict()
    path = tmp_path / "weights.pt"
    if layout == "full":
        torch.save(state, path)
    elif layout == "full-ddp":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    elif layout == "diva-wrapper":
        extra = {"diffusion.unet.weight": torch.zeros(2)}
        torch.save({"model": {**{f"clip_model.{k}": v for k, v in state.items()}, **extra}, "step": 10}, path)
    elif layout == "visual":
        torch.save(visual_state, path)
    elif layout == "visual-prefixed":
        torch.save({f"module.visual.{k}": v for k, v in visual_state.items()}, path)
    else:
        from safetensors.torch import save_file

        path = tmp_path / "weights.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    encoder = load_encoder(f"open_clip:{name}@{path}")
    pixels = torch.randn(2, 3, 32, 32)
    ids = encoder.tokenize(["a red circle", "a photo"])
    image, text = _reference_outputs(source, pixels, ids["input_ids"])
    with torch.no_grad():
        assert torch.allclose(encoder.encode_image(pixels), image, atol=1e-5)
        text_matches = torch.allclose(encoder.encode_text(ids), text, atol=1e-5)
    assert text_matches == (not layout.startswith("visual"))  # visual-only keeps the base text tower


def test_checkpoint_that_does_not_fit_is_refused(tmp_path):
    name = register_tiny_config(tmp_path)
    wrong = tiny_openclip(vision={"width": 64, "head_width": 16})
    path = tmp_path / "wrong.pt"
    torch.save(wrong.visual.state_dict(), path)
    with pytest.raises(UserError, match="does not fit the model"):
        load_encoder(f"open_clip:{name}@{path}")
    torch.save({"something": torch.zeros(3)}, path)
    with pytest.raises(UserError, match="no open_clip ViT weights"):
        load_encoder(f"open_clip:{name}@{path}")


def test_pickled_objects_are_refused(tmp_path):
    name = register_tiny_config(tmp_path)
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"visual.conv1.weight": torch.zeros(1)}, "config": object()}, path)
    with pytest.raises(UserError, match="weights_only"):
        load_encoder(f"open_clip:{name}@{path}")

"""open_clip -> transformers CLIPModel: numerics against open_clip's own forward, tokenizer, refusals."""
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from openeyes.encoders.convert_openclip import (
    openclip_encoder_to_hf,
    openclip_to_hf,
    openclip_tokenizer_to_hf,
    save_openclip_artifact,
)
from openeyes.encoders.loading import load_encoder
from openeyes.encoders.openclip_backend import OpenClipEncoder
from openeyes.errors import UserError

from .openclip_models import perturb, tiny_openclip

CAPTIONS = ["a photo of a cat", "Two DOGS playing, in the park!", "!", "a diagram of 3 red squares & 1 circle"]


def _encoder(model):
    import open_clip

    return OpenClipEncoder(model, tokenizer=open_clip.SimpleTokenizer(context_length=16), name="tiny-open-clip")


@pytest.mark.parametrize("quick_gelu", [False, True])
def test_converted_embeddings_match_open_clip(quick_gelu):
    source = _encoder(tiny_openclip(quick_gelu=quick_gelu, seed=1))
    converted = openclip_encoder_to_hf(source)
    config = converted.model.config
    assert config.vision_config.hidden_act == config.text_config.hidden_act == ("quick_gelu" if quick_gelu else "gelu")
    assert config.text_config.eos_token_id == 2  # argmax pooling, as open_clip
    pixels = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        image_error = (converted.encode_image(pixels) - source.encode_image(pixels)).abs().max().item()
        text_error = (converted.encode_text(converted.tokenize(CAPTIONS)) - source.encode_text(source.tokenize(CAPTIONS))).abs().max().item()
        token_errors = [(converted.image_tokens(pixels, k) - source.image_tokens(pixels, k)).abs().max().item() for k in range(3)]
    assert image_error < 1e-4 and text_error < 1e-4 and max(token_errors) < 1e-4
    assert torch.equal(converted.logit_scale.detach(), source.logit_scale.detach())


def test_activation_matters():
    """The hidden_act read from the model is load-bearing: the wrong one breaks the match."""
    source = _encoder(tiny_openclip(quick_gelu=True, seed=2))
    converted = openclip_encoder_to_hf(source)
    converted.model.config.vision_config.hidden_act = "gelu"
    from transformers import CLIPModel

    wrong = CLIPModel(converted.model.config)
    wrong.load_state_dict(converted.model.state_dict())
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (wrong.get_image_features(pixel_values=pixels).pooler_output - source.encode_image(pixels)).abs().max() > 1e-4


def test_tiny_vocab_and_layer_scale():
    model = tiny_openclip(seed=3, text={"vocab_size": 300}, vision={"ls_init_value": 0.5}, embed_dim=16)
    converted = openclip_to_hf(model)
    assert converted.config.text_config.vocab_size == 300
    ids = torch.randint(1, 298, (3, 16))
    ids[:, 0] = 298
    ids[torch.arange(3), torch.tensor([5, 9, 15])] = 299  # eot = the largest id
    ids[0, 6:] = 0
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(converted.get_text_features(input_ids=ids).pooler_output, model.encode_text(ids), atol=1e-4)
        assert torch.allclose(converted.get_image_features(pixel_values=pixels).pooler_output, model.encode_image(pixels), atol=1e-4)


def test_tokenizer_conversion_gives_open_clip_ids():
    import open_clip

    simple = open_clip.SimpleTokenizer(context_length=16)
    hf_tokenizer = openclip_tokenizer_to_hf(simple, 16)
    reference = simple(CAPTIONS)
    ours = hf_tokenizer(CAPTIONS, padding="max_length", truncation=True, max_length=16, return_tensors="pt")["input_ids"]
    valid = torch.arange(16)[None] <= reference.argmax(-1, keepdim=True)  # up to eot; padding ids differ (0 vs eot)
    assert torch.equal(ours[valid], reference[valid])
    assert hf_tokenizer.eos_token == "<|endoftext|>" and hf_tokenizer.eos_token_id == simple.eot_token_id


def test_artifact_from_open_clip_loads_everywhere(tmp_path):
    source = _encoder(tiny_openclip(quick_gelu=True, seed=4))
    out = save_openclip_artifact(source, tmp_path / "converted", name="tiny-converted", seed=4)
    model = AutoModel.from_pretrained(out)
    assert type(model).__name__ == "CLIPModel"
    assert AutoTokenizer.from_pretrained(out)("a photo of a cat")["input_ids"][:3] == [49406, 320, 1125]
    loaded = load_encoder(str(out))
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.encode_image(pixels), source.encode_image(pixels), atol=1e-4)
        assert torch.allclose(loaded.encode_text(loaded.tokenize(CAPTIONS)), source.encode_text(source.tokenize(CAPTIONS)), atol=1e-4)
    # OpenClipEncoder.save goes through the same conversion
    source.save(tmp_path / "saved")
    assert load_encoder(str(tmp_path / "saved")).embed_dim == 24


@pytest.mark.parametrize("variant,message", [
    (dict(vision={"layers": (1, 1, 1, 1), "width": 16, "head_width": 8}), "ModifiedResNet"),
    (dict(vision={"attentional_pool": True, "attn_pooler_queries": 4, "attn_pooler_heads": 2}), "attentional pooler"),
    (dict(vision={"pool_type": "avg"}), "pooling by 'avg'"),
    (dict(vision={"no_ln_pre": True}), "no_ln_pre"),
    (dict(text={"pool_type": "last"}), "text pooling 'last'"),
    (dict(init_logit_bias=-10.0), "logit bias"),
    (dict(vision={"qk_norm": True}), "custom attention blocks"),
])
def test_unsupported_variants_are_refused(variant, message):
    from open_clip.model import CLIP

    from .openclip_models import TINY_TEXT, TINY_VISION

    extra = {k: v for k, v in variant.items() if k not in ("vision", "text")}
    model = CLIP(24, {**TINY_VISION, **variant.get("vision", {})}, {**TINY_TEXT, **variant.get("text", {})}, **extra)
    with pytest.raises(UserError, match=message):
        openclip_to_hf(perturb(model))


def test_cli_converts_an_open_clip_checkpoint_and_reports_the_difference(tmp_path, capsys):
    """`openeyes convert open-clip`: the artifact embeds like open_clip's own forward pass."""
    from openeyes.cli import main

    from .openclip_models import register_tiny_config

    name = register_tiny_config(tmp_path)
    source = tiny_openclip(quick_gelu=True, seed=5)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "converted"
    assert main(["convert", "open-clip", "--model", f"open_clip:{name}@{tmp_path / 'weights.pt'}", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "check: max |open_clip - converted|" in printed
    image_error = float(printed.split("image embedding ")[1].split(",")[0])
    assert image_error < 1e-4
    converted = load_encoder(str(out))
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (converted.encode_image(pixels) - source.encode_image(pixels)).abs().max() < 1e-4

    assert main(["convert", "open-clip", "--model", f"{name}@{tmp_path / 'missing.pt'}", "--out", str(tmp_path / "x")]) == 2
    assert main(["convert", "open-clip", "--model", f"{name}@{tmp_path / 'weights.pt'}", "--out", str(out)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "not found" in errors[0] and "not an empty folder" in errors[1]

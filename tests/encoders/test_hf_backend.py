"""HFEncoder over tiny CLIPModel/SiglipModel: protocol, shapes, pooling, preprocessing, save/load."""
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel, AutoProcessor, AutoTokenizer, CLIPImageProcessor

from openeyes.encoders.hf_backend import HFEncoder
from openeyes.encoders.protocol import Encoder


def _images():
    gradient = Image.linear_gradient("L").resize((96, 48)).convert("RGB")
    return [Image.new("RGB", (40, 60), (200, 30, 30)), gradient]


@pytest.mark.parametrize("fixture", ["tiny_clip", "tiny_siglip"])
def test_protocol_and_shapes(fixture, request):
    encoder = request.getfixturevalue(fixture)
    assert isinstance(encoder, Encoder)
    pixels = encoder.preprocess(_images())
    assert pixels.shape == (2, 3, encoder.image_size, encoder.image_size)
    tokens = encoder.tokenize(["a red circle", "three blue stars in a row"])
    length = encoder.max_length if encoder.is_siglip else int(tokens["attention_mask"].sum(dim=1).max())
    assert tokens["input_ids"].shape == tokens["attention_mask"].shape == (2, length)
    with torch.no_grad():
        assert encoder.encode_image(pixels).shape == (2, encoder.embed_dim)
        assert encoder.encode_text(tokens).shape == (2, encoder.embed_dim)
        grid = (encoder.image_size // encoder.patch_size) ** 2
        cls = 0 if encoder.is_siglip else 1
        assert encoder.image_tokens(pixels).shape == (2, grid + cls, encoder.vision_width)
    assert isinstance(encoder.logit_scale, torch.nn.Parameter)
    assert (encoder.logit_bias is not None) == encoder.is_siglip


def test_encode_matches_model_and_is_unnormalized(tiny_clip):
    pixels = tiny_clip.preprocess(_images())
    tokens = tiny_clip.tokenize(["a red circle", "an empty gray background"])
    with torch.no_grad():
        out = tiny_clip.model(pixel_values=pixels, **tokens)
        image, text = tiny_clip(pixels, tokens)
    assert torch.allclose(image, out.image_embeds * image.norm(dim=-1, keepdim=True), atol=1e-5)
    assert torch.allclose(text, out.text_embeds * text.norm(dim=-1, keepdim=True), atol=1e-5)
    assert not torch.allclose(image.norm(dim=-1), torch.ones(2))


def test_text_pools_at_first_eos_not_at_padding(tiny_clip):
    tokens = tiny_clip.tokenize(["a red circle", "a big blue square left of a small green star with a dot"])
    tokens = {k: v[:1] for k, v in tokens.items()}  # the short text, padded to the long one
    ids = tokens["input_ids"]
    eos_position = (ids[0] == tiny_clip.tokenizer.eos_token_id).nonzero()[0].item()
    with torch.no_grad():
        hidden = tiny_clip.model.text_model(**tokens).last_hidden_state  # [1, L, C]
        pooled = tiny_clip.model.text_model(**tokens).pooler_output
    assert torch.allclose(pooled[0], hidden[0, eos_position])
    # changing what follows the eos (padding) changes nothing: causal attention
    altered = dict(tokens, input_ids=ids.clone())
    altered["input_ids"][0, eos_position + 1:] = 5
    with torch.no_grad():
        assert torch.allclose(tiny_clip.encode_text(tokens), tiny_clip.encode_text(altered), atol=1e-6)


def test_clip_pads_to_the_longest_text_with_the_embeddings_of_full_context_padding(tiny_clip, tiny_siglip):
    texts = ["a red circle", "a blue square left of a star", "x"]
    tokens = tiny_clip.tokenize(texts)
    longest = int(tokens["attention_mask"].sum(dim=1).max())
    assert tokens["input_ids"].shape == (3, longest) and longest < tiny_clip.max_length
    full = tiny_clip.tokenizer(texts, padding="max_length", truncation=True, max_length=tiny_clip.max_length, return_tensors="pt")
    with torch.no_grad():
        padded_full = tiny_clip.encode_text({"input_ids": full["input_ids"], "attention_mask": full["attention_mask"]})
        assert torch.allclose(tiny_clip.encode_text(tokens), padded_full, atol=1e-5)
    assert tiny_siglip.tokenize(texts)["input_ids"].shape == (3, tiny_siglip.max_length)  # trained on full padding, no mask


def test_image_tokens_layers(tiny_clip):
    pixels = tiny_clip.preprocess(_images())
    with torch.no_grad():
        last = tiny_clip.image_tokens(pixels, layer=-1)
        out = tiny_clip.model.vision_model(pixel_values=pixels)
        first = tiny_clip.image_tokens(pixels, layer=0)
    assert torch.allclose(last, out.last_hidden_state)
    assert not torch.allclose(first, last)


def test_preprocess_matches_transformers_processor(tiny_clip):
    images = _images()
    reference = CLIPImageProcessor(**tiny_clip.image_processor.to_dict())(images=images, return_tensors="pt")
    ours = tiny_clip.preprocess(images)
    # PIL bicubic vs torch bicubic differ by rounding only
    assert (ours - reference["pixel_values"]).abs().mean() < 0.03
    assert torch.allclose(tiny_clip.normalize(torch.full((1, 3, 4, 4), 0.5)), ours.new_tensor(
        [(0.5 - m) / s for m, s in zip(tiny_clip.transform.mean, tiny_clip.transform.std)]).view(1, 3, 1, 1).expand(1, 3, 4, 4))


def test_preprocess_center_crops_after_shortest_side_resize(tiny_clip):
    # left half red, right half blue, 4:1 wide: the crop keeps the middle, both colors
    image = Image.new("RGB", (128, 32), (255, 0, 0))
    image.paste((0, 0, 255), (64, 0, 128, 32))
    pixels01 = tiny_clip.transform.to_tensor01(image)
    assert pixels01.shape == (3, 32, 32)
    assert pixels01[0, :, :8].mean() > 0.9 and pixels01[2, :, -8:].mean() > 0.9


@pytest.mark.parametrize("fixture", ["tiny_clip", "tiny_siglip"])
def test_save_round_trip_loads_with_auto_classes(fixture, request, tmp_path):
    encoder = request.getfixturevalue(fixture)
    encoder.save(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    model = AutoModel.from_pretrained(tmp_path)
    assert type(model) is type(encoder.model)
    processor = AutoProcessor.from_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)("a red circle")["input_ids"] == encoder.tokenizer("a red circle")["input_ids"]
    again = HFEncoder.from_pretrained(str(tmp_path))
    images = _images()
    assert torch.allclose(again.preprocess(images), encoder.preprocess(images))
    assert torch.allclose(processor(images=images, return_tensors="pt")["pixel_values"], encoder.preprocess(images), atol=0.2)
    pixels, tokens = encoder.preprocess(images), encoder.tokenize(["a red circle", "two"])
    with torch.no_grad():
        assert torch.allclose(again.encode_image(pixels), encoder.encode_image(pixels), atol=1e-6)
        assert torch.allclose(again.encode_text(again.tokenize(["a red circle", "two"])), encoder.encode_text(tokens), atol=1e-6)
    assert torch.equal(again.logit_scale.detach(), encoder.logit_scale.detach())


def test_rejects_other_models():
    from transformers import BertConfig, BertModel

    with pytest.raises(ValueError, match="CLIPModel or SiglipModel"):
        HFEncoder(BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)), None, None)


def test_batched_preprocessing_equals_the_per_image_transform(tiny_clip):
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (20 + 7 * i, 40 - 3 * i, 3), dtype=np.uint8)) for i in range(5)]
    transform = tiny_clip.transform
    one_by_one = transform.normalize(torch.stack([transform.to_tensor01(image) for image in images]))  # [5, 3, S, S]
    batched = tiny_clip.preprocess(images)
    assert batched.shape == one_by_one.shape and batched.is_contiguous()
    assert torch.allclose(batched, one_by_one, atol=1e-5)

"""The dense world-label objective: per-patch cross-entropy, one shared vision pass, collate maps."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openeyes.training.objectives import Composite, PatchLabelsConfig, build_objective, weighted_entry
from openeyes.world.patch_labels import BACKGROUND_COLOR, BACKGROUND_NOUN


def _batch(encoder, batch_size=3, seed=0):
    grid = encoder.image_size // encoder.patch_size
    gen = torch.Generator().manual_seed(seed)
    return {
        "images": torch.rand(batch_size, 3, encoder.image_size, encoder.image_size, generator=gen),
        "texts": ["a red circle", "two blue squares", "a star"][:batch_size],
        "patch_nouns": torch.randint(0, BACKGROUND_NOUN + 1, (batch_size, grid * grid), generator=gen),
        "patch_colors": torch.randint(0, BACKGROUND_COLOR + 1, (batch_size, grid * grid), generator=gen),
    }


@pytest.mark.parametrize("layer", [-1, -2])
def test_terms_are_per_patch_cross_entropy_of_the_layer_cls_dropped(make_encoder, layer):
    encoder = make_encoder(vision_layers=2)
    objective = build_objective("patch_labels", encoder, PatchLabelsConfig(layer=layer, color_weight=0.5))
    batch = _batch(encoder)
    terms = Composite([weighted_entry(objective)])(encoder, batch)

    hidden = encoder.model.vision_model(pixel_values=encoder.normalize(batch["images"]),
                                        output_hidden_states=True).hidden_states[layer][:, 1:]  # [B, P, W]
    expected_nouns = np.mean([
        -F.log_softmax(objective.noun_head(hidden[b, p]), -1)[batch["patch_nouns"][b, p]].item()
        for b in range(hidden.shape[0]) for p in range(hidden.shape[1])])
    expected_colors = np.mean([
        -F.log_softmax(objective.color_head(hidden[b, p]), -1)[batch["patch_colors"][b, p]].item()
        for b in range(hidden.shape[0]) for p in range(hidden.shape[1])])
    assert terms["patch_nouns"].item() == pytest.approx(expected_nouns, rel=1e-5)
    assert terms["patch_colors"].item() == pytest.approx(0.5 * expected_colors, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(expected_nouns + 0.5 * expected_colors, rel=1e-5)


def test_shared_vision_pass_gives_the_same_embeddings_and_gradients(make_encoder):
    encoder = make_encoder(vision_layers=2)
    pixels = encoder.normalize(torch.rand(2, 3, encoder.image_size, encoder.image_size))
    embeds, tokens = encoder.encode_image_and_tokens(pixels, -2)
    assert torch.allclose(embeds, encoder.encode_image(pixels), atol=1e-6)
    assert torch.allclose(tokens, encoder.image_tokens(pixels, -2), atol=1e-6)

    clip_and_dense = Composite([weighted_entry(build_objective("clip", encoder)),
                                weighted_entry(build_objective("patch_labels", encoder))])
    calls = []
    original = encoder.model.vision_model.forward
    encoder.model.vision_model.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
    clip_and_dense(encoder, _batch(encoder, batch_size=2))["loss"].backward()
    assert len(calls) == 1  # the CLIP term reused the dense head's vision pass


def test_missing_patch_labels_is_a_user_error(make_encoder):
    from openeyes.errors import UserError

    encoder = make_encoder()
    objective = build_objective("patch_labels", encoder)
    batch = _batch(encoder)
    del batch["patch_nouns"]
    with pytest.raises(UserError, match="per-patch world labels"):
        Composite([weighted_entry(objective)])(encoder, batch)

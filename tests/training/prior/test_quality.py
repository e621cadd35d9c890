"""Prior quality: the Frechet distance formula and the end-to-end FD / zero-shot measurement."""
import math

import torch

from openeyes.training.prior import PriorModelConfig, build_prior
from openeyes.training.prior.quality import QualitySettings, at_resolution, frechet_distance, prior_quality

TINY_PRIOR = dict(image_size=16, block_out_channels=[8, 16], attention_head_dim=4, text_width=16, text_layers=1,
                  text_heads=2)
TINY_CLIP = dict(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64,
                 text_width=32, text_layers=1, text_heads=2, embed_dim=16)


def test_frechet_distance_is_zero_for_equal_sets_and_the_mean_shift_for_shifted_ones():
    features = torch.randn(400, 6, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(features, features)) < 1e-6
    shift = torch.tensor([3.0, 0, 0, 0, 0, 4.0])
    assert math.isclose(frechet_distance(features, features + shift), 25.0, rel_tol=1e-6)
    scaled = frechet_distance(features, 2.0 * features)  # Tr(S + 4S - 2 * 2S) = Tr(S) plus the mean term
    expected = float(torch.cov(features.double().T).trace() + features.double().mean(0).pow(2).sum())
    assert math.isclose(scaled, expected, rel_tol=1e-5)


def test_at_resolution_round_trips_to_the_encoder_size_and_loses_detail():
    images = torch.rand(2, 3, 32, 32)
    blurred = at_resolution(images, 8, 32)
    assert blurred.shape == (2, 3, 32, 32) and 0 <= blurred.min() and blurred.max() <= 1
    assert (blurred - images).abs().mean() > 0.05  # 8 px cannot hold 32 px noise


def test_prior_quality_reports_fd_and_zero_shot_of_class_samples(caption_tokenizer):
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.world.vocab import CLASSIFICATION_CLASSES

    torch.set_num_threads(1)
    prior = build_prior(PriorModelConfig(**TINY_PRIOR), caption_tokenizer, seed=0).eval()
    encoder = build_tiny_clip(caption_tokenizer, seed=0, **TINY_CLIP).eval()
    settings = QualitySettings(num_captions=12, samples_per_class=1, sampler_steps=2, batch_size=48)
    result = prior_quality(prior, encoder, settings)
    assert result["frechet_distance"] > 0
    assert 0.0 <= result["zeroshot_acc1"] <= 1.0 and 0.0 <= result["real_zeroshot_acc1"] <= 1.0
    assert math.isclose(result["chance"], 1 / len(CLASSIFICATION_CLASSES))
    assert prior_quality(prior, encoder, settings) == result  # seeded: the same samples again

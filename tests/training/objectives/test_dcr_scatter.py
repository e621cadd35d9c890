"""Theorem 1's scatter quantities: Eqs. 11-14 by hand, and the feature / noise measurement."""
import itertools
import math

import torch

from openeyes.training.objectives.dcr import DcrConditioner
from openeyes.training.objectives.dcr_scatter import class_scatter, scatter_quantities
from openeyes.training.prior import PriorModelConfig, build_prior


def test_class_scatter_matches_the_definitions_written_out():
    values = torch.randn(9, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    result = class_scatter(values, labels)
    means = {y: values[labels == y].mean(0) for y in (0, 1, 2)}
    inner = sum(float((values[labels == y] - means[y]).pow(2).sum(1).mean()) for y in means) / 3
    inter = sum(float((means[a] - means[b]).pow(2).sum()) for a, b in itertools.permutations(means, 2)) / 6
    assert math.isclose(result["inner"], inner, rel_tol=1e-6) and math.isclose(result["inter"], inter, rel_tol=1e-6)
    assert math.isclose(result["ratio"], inner / inter, rel_tol=1e-6)


def test_tight_classes_have_a_small_ratio_and_noise_scatter_is_measured(caption_tokenizer, make_encoder):
    tight = torch.cat([torch.full((5, 3), float(y)) + 0.01 * torch.randn(5, 3) for y in range(3)])
    loose = tight + torch.randn(15, 3)
    labels = torch.arange(3).repeat_interleave(5)
    assert class_scatter(tight, labels)["ratio"] < 0.01 < class_scatter(loose, labels)["ratio"]

    torch.set_num_threads(1)
    encoder = make_encoder(seed=0).eval()
    prior = build_prior(PriorModelConfig(image_size=16, block_out_channels=[8, 16], attention_head_dim=4,
                                         text_width=16, text_layers=1, text_heads=2), caption_tokenizer, seed=0).eval()
    conditioner = DcrConditioner(encoder.embed_dim, encoder.vision_width, prior.condition_width)
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    result = scatter_quantities(encoder, prior, conditioner, images, torch.tensor([0, 0, 1, 1, 2, 2]), timestep=500,
                                batch_size=4)
    for space in ("feature", "noise"):
        assert result[space]["inner"] > 0 and result[space]["inter"] > 0
    assert result["n"] == 6 and result["classes"] == 3
    again = scatter_quantities(encoder, prior, conditioner, images, torch.tensor([0, 0, 1, 1, 2, 2]), timestep=500)
    assert math.isclose(again["noise"]["inner"], result["noise"]["inner"], rel_tol=1e-5)  # fixed x_t, any batching

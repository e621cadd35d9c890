"""View augmentations: deterministic per seed, in range, doing what each operation says."""
import torch

from openeyes.training.objectives.augment import (
    ImageAugmentConfig,
    TextAugmentConfig,
    augment_images,
    augment_text,
    augment_texts,
    generators_for,
    view_seed,
    view_seeds,
)


def images(n=4, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_view_seeds_are_stable_and_distinct():
    assert view_seed(0, 5, 3, 1) == view_seed(0, 5, 3, 1)
    seeds = {view_seed(s, i, t, v) for s in (0, 1) for i in range(10) for t in range(3) for v in (1, 2)}
    assert len(seeds) == 2 * 10 * 3 * 2
    assert all(0 <= s < 2**63 for s in seeds)
    assert view_seeds(0, torch.tensor([4, 7]), 2, 1) == [view_seed(0, 4, 2, 1), view_seed(0, 7, 2, 1)]


def test_image_views_are_deterministic_per_sample_and_in_range():
    x = images()
    config = ImageAugmentConfig(hue=0.05)
    seeds = view_seeds(0, torch.arange(4), 0, 1)
    first = augment_images(x, generators_for(seeds), config)
    again = augment_images(x, generators_for(seeds), config)
    assert torch.equal(first, again) and first.shape == x.shape
    assert first.min() >= 0 and first.max() <= 1
    # a sample's view does not depend on its neighbours (same seed alone or in a batch)
    alone = augment_images(x[2:3], generators_for(seeds[2:3]), config)
    torch.testing.assert_close(alone, first[2:3])
    other = augment_images(x, generators_for(view_seeds(0, torch.arange(4), 0, 2)), config)
    assert not torch.allclose(first, other)


def test_identity_settings_return_the_image():
    x = images()
    identity = ImageAugmentConfig(crop_scale_min=1.0, crop_scale_max=1.0, flip_prob=0.0, brightness=0.0,
                                  contrast=0.0, saturation=0.0, hue=0.0)
    torch.testing.assert_close(augment_images(x, generators_for(range(4)), identity), x, atol=1e-5, rtol=0)
    assert augment_images(x, generators_for(range(4)), ImageAugmentConfig(enabled=False)) is x


def test_flip_mirrors_and_crop_zooms():
    x = images(1)
    flip = ImageAugmentConfig(crop_scale_min=1.0, crop_scale_max=1.0, flip_prob=1.0, brightness=0.0,
                              contrast=0.0, saturation=0.0)
    torch.testing.assert_close(augment_images(x, generators_for([0]), flip), x.flip(-1), atol=1e-5, rtol=0)
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16).contiguous()
    crop = ImageAugmentConfig(crop_scale_min=0.25, crop_scale_max=0.25, flip_prob=0.0, brightness=0.0,
                              contrast=0.0, saturation=0.0)
    view = augment_images(ramp, generators_for([3]), crop)
    span = view[0, 0, 0, -1] - view[0, 0, 0, 0]
    assert 0.4 < span < 0.55  # half the width is stretched over the whole image


def test_text_views():
    text = "a small purple square below a large orange circle"
    on = TextAugmentConfig(enabled=True, deletion_prob=0.3, swap_prob=0.3)
    assert augment_text(text, 1, TextAugmentConfig()) == text  # off by default (CLIPin A.3)
    assert augment_text(text, 1, on) == augment_text(text, 1, on)
    views = {augment_text(text, s, on) for s in range(20)}
    assert len(views) > 5
    assert all(set(v.split()) <= set(text.split()) and v for v in views)
    assert augment_text("word", 3, TextAugmentConfig(enabled=True, deletion_prob=1.0)) == "word"
    assert augment_text("two words", 3, TextAugmentConfig(enabled=True, deletion_prob=1.0)) in ("two", "words")
    assert augment_texts([text, "x y"], [1, 2], on) == [augment_text(text, 1, on), augment_text("x y", 2, on)]


def test_vertical_flip_mirrors_rows_and_leaves_old_views_unchanged():
    x = images(1)
    vflip = ImageAugmentConfig(crop_scale_min=1.0, crop_scale_max=1.0, flip_prob=0.0, vertical_flip_prob=1.0,
                               brightness=0.0, contrast=0.0, saturation=0.0)
    torch.testing.assert_close(augment_images(x, generators_for([0]), vflip), x.flip(-2), atol=1e-5, rtol=0)
    # with vertical flips off, no extra draw is made: views equal the ones drawn before the option existed
    x = images()
    config = ImageAugmentConfig(hue=0.05)
    seeds = view_seeds(0, torch.arange(4), 0, 1)
    generators = generators_for(seeds)
    augment_images(x, generators, config)
    after = [float(torch.rand((), generator=g)) for g in generators]
    fresh = generators_for(seeds)
    for g in fresh:  # crop area, log-ratio, centre x, centre y, flip, 4 jitter factors: 9 draws
        torch.rand(9, generator=g)
    assert after == [float(torch.rand((), generator=g)) for g in fresh]


def test_dcr_reference_view_is_the_official_augmentation():
    from openeyes.training.objectives.dcr import DcrAugmentConfig, resolved_augment

    default = DcrAugmentConfig()
    assert resolved_augment(default) is default and default.vertical_flip_prob == 0.0
    reference = resolved_augment(DcrAugmentConfig(preset="reference", crop_ratio_max=3.0))
    assert (reference.vertical_flip_prob, reference.flip_prob) == (0.5, 0.5)
    assert (reference.crop_scale_min, reference.crop_scale_max) == (0.9, 1.0)
    assert (reference.crop_ratio_min, reference.crop_ratio_max) == (0.9, 1.1)
    assert (reference.brightness, reference.contrast, reference.saturation, reference.hue) == (0.1, 0.1, 0.1, 0.05)
    flips = [augment_images(images(1, seed=0), generators_for([s]), reference) for s in range(40)]
    base = images(1, seed=0)
    assert any((v - base.flip(-2)).abs().mean() < (v - base).abs().mean() for v in flips)  # some views flip rows

"""The prior's gates: condition gain and attribute sensitivity against per-sample loops, and the CLI."""
import json

import numpy as np
import pytest
import torch

from openeyes.cli import main
from openeyes.training.prior import PriorModelConfig, build_prior, save_prior
from openeyes.training.prior.gates import (
    GateSettings, attribute_sensitivity, condition_gain, denoise_losses, model_space, unit_times,
)
from openeyes.world.config import WorldConfig
from openeyes.world.pairs import build_pair
from openeyes.world.render import render
from openeyes.world.sampling import rng_for

TINY_PRIOR = dict(image_size=16, block_out_channels=[8, 16], attention_head_dim=4, text_width=16, text_layers=1,
                  text_heads=2)


@pytest.fixture
def prior(caption_tokenizer):
    return build_prior(PriorModelConfig(**TINY_PRIOR), caption_tokenizer, seed=0).eval()


def blind(prior):
    """The same prior with every cross-attention output zeroed: its prediction ignores the condition."""
    for name, module in prior.unet.named_modules():
        if name.endswith("attn2.to_out.0"):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)
    return prior


def world_images(n, size=16):
    config = WorldConfig(image_size=size)
    from openeyes.world.sampling import sample_scene

    return np.stack([render(sample_scene(rng_for(5, "test", i), config), config) for i in range(n)])


def test_unit_times_stay_in_their_band(prior):
    t = unit_times(prior, 0.25, 0.5, 500, torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and 250 <= int(t.min()) and int(t.max()) < 500


def test_condition_gain_equals_the_per_sample_loop(prior):
    images = world_images(4)
    texts = ["a red circle left of a blue square", "three blue stars in a row", "a big red triangle",
             "two green triangles above a yellow star"]
    settings = GateSettings(bands=2, draws=1, batch_size=3, seed=7)
    rows = condition_gain(prior, images, texts, settings)

    generator = torch.Generator().manual_seed(7)  # the same draws, replayed one sample at a time
    x0 = model_space(prior, images, 4)
    for band, row in enumerate(rows):
        t = unit_times(prior, band / 2, (band + 1) / 2, 4, generator)
        noise = torch.randn(x0.shape, generator=generator)
        own, other = [], []
        for i in range(4):
            x_t = prior.schedule.add_noise(x0[i:i + 1], noise[i:i + 1], t[i:i + 1])
            target = prior.schedule.target(x0[i:i + 1], noise[i:i + 1], t[i:i + 1])
            with torch.no_grad():
                for caption, out in ((texts[i], own), (texts[i - 1], other)):  # shuffled = the previous caption
                    out.append(float(((prior.predict(x_t, t[i:i + 1], prior.encode_text([caption])) - target) ** 2).mean()))
        assert row["loss_true"] == pytest.approx(np.mean(own), rel=1e-4)
        assert row["loss_shuffled"] == pytest.approx(np.mean(other), rel=1e-4)
        assert row["gain"] == pytest.approx(np.mean(other) / np.mean(own), rel=1e-4)
        assert row["gain"] != pytest.approx(1.0, abs=1e-7)  # a random prior still reads its condition
    for row in condition_gain(blind(prior), images, texts, settings):
        assert row["gain"] == pytest.approx(1.0, abs=1e-6) and row["true_below_shuffled"] == 0.0


def test_attribute_sensitivity_counts_the_lower_loss_per_image(prior):
    config = WorldConfig(image_size=16)
    pairs = [build_pair(pattern, rng_for(3, "test", k, "gate"), config)
             for pattern in ("Orientation", "Quantity") for k in range(2)]
    settings = GateSettings(pair_draws=2, batch_size=5, seed=1)
    result = attribute_sensitivity(prior, pairs, lambda scene: render(scene, config), settings)
    assert set(result) == {"Orientation", "Quantity"} and all(row["pairs"] == 2 for row in result.values())

    generator = torch.Generator().manual_seed(2)  # seed + 1, as the gate
    images = np.stack([render(s, config) for p in pairs for s in (p.scene_a, p.scene_b)])
    x0 = model_space(prior, images, 8)
    own = prior.encode_text([s for p in pairs for s in (p.statement_a, p.statement_b)])
    other = prior.encode_text([s for p in pairs for s in (p.statement_b, p.statement_a)])
    own_sum, other_sum = torch.zeros(8), torch.zeros(8)
    for _ in range(2):
        t = unit_times(prior, *settings.pair_band, 8, generator)
        noise = torch.randn(x0.shape, generator=generator)
        own_sum += denoise_losses(prior, x0, own, t, noise)
        other_sum += denoise_losses(prior, x0, other, t, noise)
    right = (own_sum < other_sum).reshape(4, 2).float()
    assert result["Orientation"]["accuracy"] == pytest.approx(float(right[:2].mean()))
    assert result["Quantity"]["pair_accuracy"] == pytest.approx(float(right[2:].prod(1).mean()))
    blind_result = attribute_sensitivity(blind(prior), pairs, lambda scene: render(scene, config), settings)
    assert all(row["accuracy"] == 0.0 for row in blind_result.values())  # ties are never "told apart"


def test_prior_gates_cli_writes_json_and_table(prior, tmp_path, capsys):
    save_prior(prior, tmp_path / "prior", name="gate-test")
    code = main(["train", "prior-gates", "--prior", str(tmp_path / "prior"), "--out", str(tmp_path / "gates"),
                 "--n-images", "4", "--pair-draws", "1"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((tmp_path / "gates" / "gates.json").read_text())
    assert len(result["condition_gain"]) == 4 and len(result["attribute_sensitivity"]) == 9
    assert printed["mean_gain_in_pair_band"] == result["summary"]["mean_gain_in_pair_band"]
    assert "| Orientation |" in (tmp_path / "gates" / "gates.md").read_text()


def test_prior_gates_cli_rejects_bad_input(tmp_path, capsys):
    assert main(["train", "prior-gates", "--prior", str(tmp_path / "missing"), "--out", str(tmp_path / "g")]) == 2
    assert main(["train", "prior-gates", "--prior", str(tmp_path), "--out", str(tmp_path / "g"), "--n-images", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all("Traceback" not in line for line in err)


def test_world_prior_source_feeds_the_prior_and_its_tokenizer():
    from openeyes.training.recipes.encoder_data import DataConfig, build_dataset
    from openeyes.training.recipes.prior import PriorTextSettings, world_caption_tokenizer
    from openeyes.world.prior_text import WorldPriorText

    data = DataConfig(source="world_prior", pair_fraction=1.0)
    dataset = build_dataset(data, 16)
    assert isinstance(dataset, WorldPriorText) and dataset.pair_fraction == 1.0 and dataset[0]["image"].shape == (16, 16, 3)
    text = PriorTextSettings(tokenizer_vocab=400, tokenizer_corpus=120, max_length=24)
    plain = world_caption_tokenizer(text, 0)
    with_pairs = world_caption_tokenizer(text, 0, data)
    phrase = "a close-up view of a red ring without a dot"
    assert len(with_pairs(phrase)["input_ids"]) < len(plain(phrase)["input_ids"])  # the pair words are in its vocabulary
    assert plain.get_vocab() == world_caption_tokenizer(text, 0, DataConfig()).get_vocab()  # world source: as before

"""The attribute_probe benchmark: its folder, pooled vs patch features, the refusals, and
`openeyes eval encoder` on a generated world with the zoo's tiny CLIP."""
import json

import pytest

from encoder_fixtures import write_attribute_probe, write_mmvp_vlm
from openeyes.cli import main
from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.benchmarks import labelled_features, run_attribute_probe
from openeyes.eval_mllm.encoder.context import EvalContext
from openeyes.eval_mllm.encoder.data.attribute_probe import is_attribute_probe_dir, load_probe_split
from openeyes.eval_mllm.encoder.options import make_options
from openeyes.eval_mllm.encoder.runner import run_benchmarks
from openeyes.eval_mllm.results import read_results
from openeyes.world.pairs import PATTERNS


@pytest.fixture(scope="module")
def zoo_clip():
    from openeyes.encoders.loading import load_encoder

    return load_encoder("zoo:tiny-clip", device="cpu")


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    return write_attribute_probe(tmp_path_factory.mktemp("probe") / "attribute_probe")


class PooledOnly:
    """An encoder without patch tokens (like an open_clip ResNet): pooled embeddings only."""

    patch_size = 0

    def __init__(self, base):
        self.base, self.embed_dim = base, base.embed_dim

    def preprocess(self, images):
        return self.base.preprocess(images)

    def encode_image(self, pixels):
        return self.base.encode_image(pixels)


def test_pooled_and_patch_features_and_their_layer(zoo_clip, probe_dir):
    ctx = EvalContext(zoo_clip, make_options())
    data = load_probe_split(probe_dir, "test")
    pooled = labelled_features(ctx, probe_dir, "test", data, "pooled", -1)
    patches = labelled_features(ctx, probe_dir, "test", data, "patches", -1)
    grid = zoo_clip.image_size // zoo_clip.patch_size
    assert pooled.features.shape == (12, zoo_clip.embed_dim)
    assert patches.features.shape == (12, grid * grid * zoo_clip.vision_width)  # [N, P * W], 64 x 256
    assert pooled.labels.tolist() == data.labels and patches.patterns.tolist() == data.patterns
    first = labelled_features(ctx, probe_dir, "test", data, "patches", 0)
    assert first.features.shape == patches.features.shape and not (first.features == patches.features).all()

    result = run_attribute_probe(ctx, probe_dir)
    assert result.options["features"] == ["pooled", "patches"] and result.options["probe_layer"] == -1
    assert {"pooled_spatial", "patches_presence", "pooled_mean", "patches_mean", "chance_mean"} <= set(result.metrics)
    assert result.per_category["Spatial"]["chance"] == 0.5 and result.per_category["Spatial"]["n_train"] == 6
    assert len(result.predictions) == 12 and {"pooled_pred", "patches_pred"} <= set(result.predictions[0])
    layer0 = run_attribute_probe(EvalContext(zoo_clip, make_options(probe_layer=0)), probe_dir)
    assert layer0.options["probe_layer"] == 0 and "layer 0" in layer0.protocol


def test_an_encoder_without_patches_is_probed_pooled_only(zoo_clip, probe_dir):
    result = run_attribute_probe(EvalContext(PooledOnly(zoo_clip), make_options()), probe_dir)
    assert result.options["features"] == ["pooled"] and result.options["patches"].startswith("not run: ")
    assert "no patch tokens" in result.protocol and not any(k.startswith("patches") for k in result.metrics)
    with pytest.raises(UserError, match="--probe-layer reads patch tokens, but this encoder has no patch tokens"):
        run_attribute_probe(EvalContext(PooledOnly(zoo_clip), make_options(probe_layer=-1)), probe_dir)


def test_bad_folders_and_splits_are_refused(zoo_clip, probe_dir, tmp_path):
    with pytest.raises(UserError, match="fits its probes on the train split"):
        run_attribute_probe(EvalContext(zoo_clip, make_options(split="train")), probe_dir)
    broken = write_attribute_probe(tmp_path / "broken")
    assert is_attribute_probe_dir(broken, "test") and not is_attribute_probe_dir(broken, "val")
    (broken / "images" / "test" / "000003.png").unlink()
    with pytest.raises(UserError, match=r"test.csv row 5: image .*000003.png is missing"):
        load_probe_split(broken, "test")
    (broken / "train.csv").write_text("image,label\nx.png,left\n")
    with pytest.raises(UserError, match="row 1: expected the header image,pattern,label,pair"):
        load_probe_split(broken, "train")
    one_label = write_attribute_probe(tmp_path / "one", labels={"Spatial": ("left", "left")})
    with pytest.raises(UserError, match="'Spatial' has one train label"):
        run_attribute_probe(EvalContext(zoo_clip, make_options()), one_label)


def test_all_skips_it_without_the_export(zoo_clip, tmp_path):
    write_mmvp_vlm(tmp_path / "mmvp_vlm", pairs_per_type=1)
    skipped = {}
    results = run_benchmarks(zoo_clip, "all", tmp_path, make_options(), skipped=skipped)
    assert "attribute_probe" not in results and "no attribute_probe data found" in skipped["attribute_probe"]


def test_cli_scores_a_generated_world(tmp_path, capsys):
    from openeyes.world.generate import generate_world

    generate_world(tmp_path / "world", seed=3, n=12, size=64, names=["attribute_probe", "mmvp_vlm"])
    out = tmp_path / "eval"
    code = main(["eval", "encoder", "--encoder", "zoo:tiny-clip", "--bench", "all", "--data", str(tmp_path / "world"),
                 "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0 and "attribute_probe: pooled_mean = " in printed and "mmvp_vlm: average = " in printed
    results = read_results(out / "attribute_probe")
    assert list(results["per_category"]) == PATTERNS and results["data"]["n_test"] == 270
    for kind in ("pooled", "patches"):
        assert all(f"{kind}_{p.lower().replace(' ', '_')}" in results["metrics"] for p in PATTERNS)
    # 15 train pairs per pattern already carry the attributes well above their baselines
    assert results["metrics"]["patches_mean"] > results["metrics"]["majority_mean"] + 0.2
    assert len((out / "attribute_probe" / "predictions.jsonl").read_text().splitlines()) == 270
    assert "attribute_probe" in json.loads((out / "summary.json").read_text())

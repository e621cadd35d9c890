"""`openeyes eval drift`: how far a fine-tuned encoder moved from its reference, checked by hand."""
import copy
import json

import pytest
import torch
import torch.nn.functional as F

from encoder_fixtures import write_mmvp_vlm
from openeyes.cli import main
from openeyes.eval_mllm.encoder.drift import measure_drift, relative_weight_change
from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import CATEGORIES


@pytest.fixture(scope="module")
def reference():
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    tokenizer = train_caption_tokenizer(["a red square", "a green circle"] * 4, vocab_size=300, max_length=16)
    torch.manual_seed(0)
    return build_tiny_clip(
        tokenizer, image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2,
        vision_mlp=64, text_width=32, text_layers=1, text_heads=2, embed_dim=16, name="drift-base",
    ).eval()


@pytest.fixture(scope="module")
def mmvp(tmp_path_factory):
    return write_mmvp_vlm(tmp_path_factory.mktemp("drift") / "mmvp_vlm")


def moved(encoder, scale: float, seed: int = 1):
    """A copy whose image-tower weights moved by ``scale`` times a fixed random direction."""
    twin = copy.deepcopy(encoder)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in twin.named_parameters():
            if "vision" in name or "visual" in name:
                param.add_(scale * torch.randn(param.shape, generator=generator))
    return twin


def test_an_encoder_has_no_drift_from_itself(reference, mmvp):
    report = measure_drift(reference, copy.deepcopy(reference), mmvp)
    assert report.relative_weight_change == 0.0 and report.shared_parameters > 0
    assert report.embedding_cosine == pytest.approx(1.0, abs=1e-5) and report.patch_cosine == pytest.approx(1.0, abs=1e-5)
    assert list(report.per_pattern) == list(CATEGORIES)
    for pattern in report.per_pattern.values():
        assert pattern.n_pairs == 15 and pattern.pair_cosine == pytest.approx(pattern.pair_cosine_reference, abs=1e-6)


def test_weight_change_is_the_norm_ratio_over_the_image_tower(reference):
    twin = moved(reference, 0.01)
    change, shared = relative_weight_change(reference, twin)
    vision = [(n, p) for n, p in reference.named_parameters() if "vision" in n or "visual" in n]
    twin_params = {n: p.detach() for n, p in twin.named_parameters()}
    vision = [(n, p.detach()) for n, p in vision]
    expected = (sum(float((twin_params[n] - p).pow(2).sum()) for n, p in vision) ** 0.5
                / sum(float(p.pow(2).sum()) for _, p in vision) ** 0.5)
    assert shared == len(vision) and change == pytest.approx(expected, rel=1e-5) and change > 0


def test_drift_grows_with_the_move_and_matches_a_direct_computation(reference, mmvp):
    from PIL import Image

    small, large = measure_drift(reference, moved(reference, 0.01), mmvp), measure_drift(reference, moved(reference, 0.2), mmvp)
    assert 1.0 > small.embedding_cosine > large.embedding_cosine
    assert small.relative_weight_change < large.relative_weight_change
    twin = moved(reference, 0.2)
    folder = mmvp / "MLLM_VLM Images" / "Orientation"
    images = [Image.open(folder / f"{q}.jpg").convert("RGB") for q in range(1, 31)]  # the first 15 pairs
    with torch.no_grad():
        before = reference.encode_image(reference.preprocess(images))  # [30, D]
        after = twin.encode_image(twin.preprocess(images))
    first = large.per_pattern[CATEGORIES[0]]
    assert first.embedding_cosine == pytest.approx(F.cosine_similarity(before, after).mean().item(), abs=1e-5)
    assert first.pair_cosine == pytest.approx(F.cosine_similarity(after[0::2], after[1::2]).mean().item(), abs=1e-5)
    assert first.pair_cosine_reference == pytest.approx(F.cosine_similarity(before[0::2], before[1::2]).mean().item(), abs=1e-5)


def test_drift_command_prints_and_writes_json(reference, mmvp, tmp_path, capsys):
    from openeyes.encoders.artifact import save_encoder_artifact

    base = save_encoder_artifact(reference, tmp_path / "base", name="drift-base")
    tuned = save_encoder_artifact(moved(reference, 0.05), tmp_path / "tuned", name="drift-tuned")
    assert main(["eval", "drift", "--encoder", str(tuned), "--reference", str(base), "--data", str(mmvp),
                 "--out", str(tmp_path / "drift.json")]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((tmp_path / "drift.json").read_text())
    assert 0 < printed["relative_weight_change"] and printed["embedding_cosine"] < 1.0
    assert set(printed["per_pattern"]) == set(CATEGORIES)


def test_drift_on_a_folder_without_mmvp_is_a_one_line_error(reference, tmp_path, capsys):
    from openeyes.encoders.artifact import save_encoder_artifact

    base = save_encoder_artifact(reference, tmp_path / "base", name="drift-base")
    capsys.readouterr()  # the save's progress output
    assert main(["eval", "drift", "--encoder", str(base), "--reference", str(base), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not an MMVP-VLM folder" in err and len(err.splitlines()) == 1

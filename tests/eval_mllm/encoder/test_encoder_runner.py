"""The runner end to end with a tiny real CLIP: Python API, artifacts, `openeyes eval encoder`."""
import json

import pytest
import torch
import torch.nn.functional as F

from encoder_fixtures import (
    write_attribute_probe, write_flickr, write_imagefolder, write_mmvp_vlm, write_naturalbench_retrieval,
)
from openeyes.cli import main
from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.runner import evaluate_encoder, evaluate_to_artifacts
from openeyes.eval_mllm.results import read_results

ARTIFACT_FILES = {"results.json", "predictions.jsonl", "report.md", "metrics.png", "openeyes.json"}


@pytest.fixture(scope="module")
def tiny_encoder():
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    captions = ["a photo of a red square", "a green circle", "blue bar", "yellow dot", "the statement side"]
    tokenizer = train_caption_tokenizer(captions * 4, vocab_size=320, max_length=16)
    return build_tiny_clip(
        tokenizer, image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2,
        vision_mlp=64, text_width=32, text_layers=1, text_heads=2, embed_dim=16, name="tiny-test-clip",
    )


@pytest.fixture(scope="module")
def export_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    write_mmvp_vlm(root / "mmvp_vlm")
    write_imagefolder(root / "classification")
    write_flickr(root / "retrieval")
    write_naturalbench_retrieval(root / "naturalbench_retrieval")
    write_attribute_probe(root / "attribute_probe")
    return root


@pytest.fixture(scope="module")
def encoder_artifact(tiny_encoder, tmp_path_factory):
    from openeyes.encoders.artifact import save_encoder_artifact

    return save_encoder_artifact(tiny_encoder, tmp_path_factory.mktemp("enc") / "tiny", name="tiny-test-clip")


def test_all_runs_every_benchmark_with_data(tiny_encoder, export_root):
    results = evaluate_encoder(tiny_encoder, "all", export_root, batch_size=7)
    assert set(results) == {"mmvp_vlm", "zeroshot", "retrieval", "clustering", "linear_probe", "affinity",
                            "naturalbench_retrieval", "attribute_probe"}
    assert len(results["mmvp_vlm"]["predictions"]) == 135
    assert len(results["zeroshot"]["predictions"]) == 18
    assert results["retrieval"]["data"]["n_texts"] == 8
    assert -1.0 <= results["affinity"]["metrics"]["affinity_consistency"] <= 1.0
    for name, result in results.items():
        assert result["headline"] in result["metrics"], name


def test_mmvp_predictions_follow_the_encoders_own_logits(tiny_encoder, export_root):
    result = evaluate_encoder(tiny_encoder, "mmvp_vlm", export_root / "mmvp_vlm")
    first = result["predictions"][0]
    from PIL import Image

    folder = export_root / "mmvp_vlm" / "MLLM_VLM Images" / "Orientation"
    images = [Image.open(folder / f"{q}.jpg").convert("RGB") for q in (1, 2)]
    statements = ["a photo of the orientation statement 0 side 0", "a photo of the orientation statement 0 side 1"]
    with torch.no_grad():
        image_emb = F.normalize(tiny_encoder.encode_image(tiny_encoder.preprocess(images)), dim=-1)
        text_emb = F.normalize(tiny_encoder.encode_text(tiny_encoder.tokenize(statements)), dim=-1)
        logits = tiny_encoder.logit_scale.exp() * text_emb @ image_emb.T
    assert first["q1score"] == pytest.approx(logits[0].softmax(-1)[0].item(), abs=1e-5)
    assert first["pred1"] == ("img1" if logits[0].softmax(-1)[0] > 0.5 else "img2")
    expected = sum(p["correct"] for p in result["predictions"]) / 135 * 100
    assert result["metrics"]["average"] == pytest.approx(expected)


def test_mmvp_vlm_reports_how_alike_each_pair_of_images_embeds(tiny_encoder, export_root):
    from PIL import Image

    result = evaluate_encoder(tiny_encoder, "mmvp_vlm", export_root / "mmvp_vlm")
    folder = export_root / "mmvp_vlm" / "MLLM_VLM Images" / "Orientation"
    images = [Image.open(folder / f"{q}.jpg").convert("RGB") for q in (1, 2)]
    with torch.no_grad():
        first, second = tiny_encoder.encode_image(tiny_encoder.preprocess(images))
    assert result["predictions"][0]["image_pair_cosine"] == pytest.approx(F.cosine_similarity(first, second, dim=0).item(), abs=1e-5)
    for category, block in result["per_category"].items():
        cosines = [p["image_pair_cosine"] for p in result["predictions"] if p["category"] == category]
        assert len(cosines) == 15 and block["image_pair_cosine"] == pytest.approx(sum(cosines) / 15)
        rights = [p["right_image_probability"] for p in result["predictions"] if p["category"] == category]
        assert block["right_image_probability"] == pytest.approx(sum(rights) / 15)
    first = result["predictions"][0]  # statement 1 belongs to image 1, statement 2 to image 2
    assert first["right_image_probability"] == pytest.approx(0.5 * (first["q1score"] + 1 - first["q2score"]))


def test_batch_size_does_not_change_numbers(tiny_encoder, export_root):
    a = evaluate_encoder(tiny_encoder, "zeroshot", export_root, batch_size=1)
    b = evaluate_encoder(tiny_encoder, "zeroshot", export_root, batch_size=64)
    assert a["metrics"] == pytest.approx(b["metrics"])
    assert [p["pred"] for p in a["predictions"]] == [p["pred"] for p in b["predictions"]]


def test_artifacts_for_all_with_an_encoder_artifact_spec(encoder_artifact, export_root, tmp_path):
    payloads = evaluate_to_artifacts(str(encoder_artifact), "all", export_root, tmp_path / "out", device="cpu", seed=5)
    assert set(payloads) >= {"mmvp_vlm", "zeroshot", "retrieval", "clustering", "affinity"}
    for name in payloads:
        folder = tmp_path / "out" / name
        assert ARTIFACT_FILES <= {p.name for p in folder.iterdir()}, name
        results = read_results(folder)
        assert results["model"]["card_name"] == "tiny-test-clip" and len(results["model"]["card_hash"]) == 16
        assert results["seed"] == 5
        n_lines = len((folder / "predictions.jsonl").read_text().splitlines())
        assert n_lines > 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary) == set(payloads)


def test_cli_single_benchmark(encoder_artifact, export_root, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["eval", "encoder", "--encoder", str(encoder_artifact), "--bench", "clustering",
                 "--data", str(export_root), "--out", str(out), "--batch-size", "5", "--seed", "1", "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "clustering: acc =" in printed
    results = read_results(out)
    assert results["benchmark"] == "clustering" and results["options"]["seed"] == 1
    assert set(results["metrics"]) == {"nmi", "ami", "ari", "acc"}
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 18


@pytest.mark.parametrize("argv,message", [
    (["--bench", "nope"], "unknown encoder benchmark 'nope'"),
    (["--data", "/no/such/dir"], "does not exist"),
    (["--bench", "mmvp_vlm", "--data", "EMPTY"], "no mmvp_vlm data for benchmark 'mmvp_vlm'"),
    (["--bench", "all", "--data", "EMPTY"], "no benchmark data found"),
    (["--batch-size", "0"], "batch size must be >= 1"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = {"--encoder": "never-loaded", "--bench": "zeroshot", "--data": str(tmp_path), "--out": str(tmp_path / "o")}
    for flag, value in zip(argv[::2], argv[1::2]):
        args[flag] = str(empty) if value == "EMPTY" else value
    code = main(["eval", "encoder"] + [x for pair in args.items() for x in pair])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_python_api_refuses_unknown_option(tiny_encoder, export_root):
    with pytest.raises(UserError, match="unknown encoder-eval option"):
        evaluate_encoder(tiny_encoder, "zeroshot", export_root, batchsize=3)


def test_training_mode_is_restored(tiny_encoder, export_root):
    tiny_encoder.train()
    try:
        evaluate_encoder(tiny_encoder, "retrieval", export_root, recall_k=(1,))
        assert tiny_encoder.training
    finally:
        tiny_encoder.eval()


def test_all_writes_what_can_run_and_reports_the_rest(encoder_artifact, tmp_path, capsys):
    """A world too small for the linear probe's cross-validation no longer aborts everything."""
    root = tmp_path / "small"
    write_mmvp_vlm(root / "mmvp_vlm")
    write_imagefolder(root / "classification", per_class=1)   # no class with 2 items: no 5-fold probe
    out = tmp_path / "out"
    code = main(["eval", "encoder", "--encoder", str(encoder_artifact), "--bench", "all", "--data", str(root),
                 "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    reported = {line.split(":")[0]: line for line in captured.err.strip().splitlines()}
    assert "not run:" in reported["linear_probe"] and "class with at least 2 items" in reported["linear_probe"]
    assert "no retrieval data found" in reported["retrieval"]
    assert {"mmvp_vlm", "zeroshot"} <= {p.name for p in out.iterdir()} and not (out / "linear_probe").exists()
    assert f"results written to {out}" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["linear_probe"]["value"] is None and "class with at least 2 items" in summary["linear_probe"]["skipped"]
    assert summary["mmvp_vlm"]["value"] is not None


def test_a_single_benchmark_that_cannot_run_is_still_an_error(encoder_artifact, tmp_path, capsys):
    write_imagefolder(tmp_path / "small" / "classification", per_class=1)
    code = main(["eval", "encoder", "--encoder", str(encoder_artifact), "--bench", "linear_probe",
                 "--data", str(tmp_path / "small"), "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert code == 2 and "class with at least 2 items" in capsys.readouterr().err


def test_bench_accepts_a_comma_separated_list(encoder_artifact, export_root, tmp_path, capsys):
    out = tmp_path / "two"
    code = main(["eval", "encoder", "--encoder", str(encoder_artifact), "--bench", "mmvp_vlm, zeroshot,mmvp_vlm",
                 "--data", str(export_root), "--out", str(out), "--device", "cpu"])
    first = capsys.readouterr()
    assert code == 0, first.err
    assert {p.name for p in out.iterdir()} == {"mmvp_vlm", "zeroshot", "summary.json", "summary.md"}
    assert read_results(out / "zeroshot")["benchmark"] == "zeroshot"
    code = main(["eval", "encoder", "--encoder", "never-loaded", "--bench", "zeroshot,nope",
                 "--data", str(export_root), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown encoder benchmark 'nope'" in err and err.count("\n") == 1

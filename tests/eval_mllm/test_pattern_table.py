"""Per-pattern tables: MMVP-VLM categories and attribute-probe patterns, mean ± sample std over repeats."""
import json

import pytest

from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import TYPE_TO_CATEGORY
from openeyes.eval_mllm.pattern_table import PATTERNS, write_pattern_tables


def _write(folder, bench, metrics, per_category=None):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(
        {"benchmark": bench, "protocol": "p", "headline": next(iter(metrics)), "metrics": metrics,
         "per_category": per_category or {}, "model": {"card_name": "m"}}))


def _mmvp(folder, scale):  # pattern i scores scale * i percent
    per_category = {TYPE_TO_CATEGORY[p]: {"accuracy": scale * i, "type": p} for i, p in enumerate(PATTERNS)}
    _write(folder / "mmvp_vlm", "mmvp_vlm", {"average": 0.0, "pair_accuracy": 0.0}, per_category)


def test_tables_average_repeats_per_pattern_and_read_both_probe_feature_kinds(tmp_path, capsys):
    from openeyes.cli import main

    for seed, scale in enumerate((1.0, 3.0)):
        _mmvp(tmp_path / f"dcr{seed}", scale)
        _write(tmp_path / f"dcr{seed}" / "attribute_probe", "attribute_probe",
               {"pooled_mean": 0.5, "pooled_spatial": 0.5 + 0.1 * seed, "patches_spatial": 1.0, "patches_text": 0.25})
    _mmvp(tmp_path / "base", 2.0)
    runs = [f"dcr={tmp_path / 'dcr0'}", f"dcr={tmp_path / 'dcr1'}", f"base={tmp_path / 'base'}"]
    summary = write_pattern_tables(runs, tmp_path / "out")
    mmvp = summary["MMVP-VLM pair accuracy (%)"]
    assert list(mmvp) == ["dcr", "base"]
    quantity = mmvp["dcr"]["Quantity"]  # index 3: 3.0 and 9.0
    assert quantity["n"] == 2 and quantity["mean"] == pytest.approx(6.0) and quantity["std"] == pytest.approx(4.242641, rel=1e-6)
    assert mmvp["base"]["Quantity"] == {"mean": 6.0, "std": 0.0, "n": 1}
    pooled = summary["attribute probe, pooled features"]
    assert list(pooled) == ["dcr"]  # the base has no probe results
    assert pooled["dcr"]["Spatial"]["mean"] == pytest.approx(0.55) and pooled["dcr"]["Text"]["n"] == 0
    assert summary["attribute probe, patch tokens"]["dcr"]["Text"]["mean"] == pytest.approx(0.25)
    text = (tmp_path / "out" / "patterns.md").read_text()
    assert text.index("**MMVP-VLM") < text.index("**attribute probe, pooled") < text.index("**attribute probe, patch")
    assert "| dcr (n=2) | 0.000 ± 0.000 | 2.000 ± 1.414 | 4.000 ± 2.828 | 6.000 ± 4.243 |" in text
    assert json.loads((tmp_path / "out" / "patterns.json").read_text())["runs"] == runs
    # through the CLI: the headline table, then the per-pattern ones
    assert main(["eval", "compare", *runs, "--out", str(tmp_path / "cli"), "--by-pattern"]) == 0
    printed = capsys.readouterr().out
    assert "**attribute probe, patch tokens**" in printed and (tmp_path / "cli" / "patterns.md").is_file()


def test_mllm_runs_get_world_mmvp_patterns_from_predictions_and_cv_bench_tasks(tmp_path):
    for seed, right in enumerate((True, False)):
        folder = tmp_path / f"swap{seed}"
        _write(folder / "mmvp", "mmvp", {"accuracy": 0.5, "pair_accuracy": 0.0})
        rows = [{"id": 1, "parsed": "A", "correct": True}, {"id": 2, "parsed": "B", "correct": right},  # Orientation
                {"id": 31, "parsed": "A", "correct": True}, {"id": 32, "parsed": "B", "correct": True}]  # Presence
        (folder / "mmvp" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        _write(folder / "cv_bench", "cv_bench", {"cv_bench": 0.5},
               {"task/Count": {"accuracy": 0.25 * (seed + 1), "n": 4}, "task/Depth": {"accuracy": 1.0, "n": 2}})
    real = tmp_path / "real"  # MMVP's own question ids are not a world export's row numbers: no pattern table
    _write(real / "mmvp", "mmvp", {"accuracy": 0.5, "pair_accuracy": 0.0})
    (real / "mmvp" / "predictions.jsonl").write_text(json.dumps({"id": "q-1", "parsed": "A", "correct": True}) + "\n")
    summary = write_pattern_tables([f"swap={tmp_path / 'swap0'}", f"swap={tmp_path / 'swap1'}", f"real={real}"], tmp_path / "out")
    mmvp = summary["MMVP (MLLM) pair accuracy (%) per world pattern"]
    assert list(mmvp) == ["swap"]
    assert mmvp["swap"]["Orientation"]["mean"] == pytest.approx(50.0) and mmvp["swap"]["Presence"]["mean"] == 100.0
    assert mmvp["swap"]["Text"]["n"] == 0
    tasks = summary["CV-Bench accuracy (%) per task"]["swap"]
    assert tasks["Count"]["mean"] == pytest.approx(37.5) and tasks["Depth"]["n"] == 2 and tasks["Relation"]["n"] == 0
    text = (tmp_path / "out" / "patterns.md").read_text()
    assert "| model | Count | Relation | Depth | Distance |" in text


def test_image_pair_cosine_table_averages_repeats_and_skips_runs_without_it(tmp_path):
    for seed, cosine in enumerate((0.9, 0.7)):
        per_category = {TYPE_TO_CATEGORY[p]: {"accuracy": 0.0, "type": p, "image_pair_cosine": cosine} for p in PATTERNS}
        _write(tmp_path / f"dcr{seed}" / "mmvp_vlm", "mmvp_vlm", {"average": 0.0, "pair_accuracy": 0.0}, per_category)
    _mmvp(tmp_path / "old", 1.0)  # results written before the cosine existed
    summary = write_pattern_tables([f"dcr={tmp_path / 'dcr0'}", f"dcr={tmp_path / 'dcr1'}", f"old={tmp_path / 'old'}"],
                                   tmp_path / "out")
    table = next(rows for name, rows in summary.items() if name.startswith("MMVP-VLM image-pair cosine"))
    assert list(table) == ["dcr"] and table["dcr"]["Camera Perspective"]["mean"] == pytest.approx(0.8)
    assert table["dcr"]["Camera Perspective"]["n"] == 2
    assert list(summary["MMVP-VLM pair accuracy (%)"]) == ["dcr", "old"]
    assert not any(name.startswith("MMVP-VLM right-image") for name in summary)  # no run recorded it


def test_right_image_probability_table(tmp_path):
    for seed, right in enumerate((0.6, 0.5)):
        per_category = {TYPE_TO_CATEGORY[p]: {"accuracy": 0.0, "type": p, "right_image_probability": right} for p in PATTERNS}
        _write(tmp_path / f"run{seed}" / "mmvp_vlm", "mmvp_vlm", {"average": 0.0, "pair_accuracy": 0.0}, per_category)
    summary = write_pattern_tables([f"dcr={tmp_path / 'run0'}", f"dcr={tmp_path / 'run1'}"], tmp_path / "out")
    table = summary["MMVP-VLM right-image probability (0.5: no preference)"]
    assert table["dcr"]["Orientation"]["mean"] == pytest.approx(0.55) and table["dcr"]["Orientation"]["n"] == 2
    assert "**MMVP-VLM right-image probability (0.5: no preference)**" in (tmp_path / "out" / "patterns.md").read_text()

"""Paired differences: each run minus the reference's run on the same data, averaged per trained model,
then mean, sample std and a 95 % Student-t interval over models (a transcription of the textbook formula)."""
import json
import math
import statistics

import pytest

from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import TYPE_TO_CATEGORY
from openeyes.eval_mllm.paired import write_paired_tables
from openeyes.eval_mllm.pattern_table import PATTERNS

T_975_DF2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables)


def _write(folder, bench, metrics, data, spec, per_category=None):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(
        {"benchmark": bench, "protocol": "p", "headline": next(iter(metrics)), "metrics": metrics,
         "per_category": per_category or {}, "data": {"path": data}, "model": {"spec": spec, "card_name": "m"}}))


def _mmvp(folder, data, spec, accuracy, orientation):
    per_category = {TYPE_TO_CATEGORY[p]: {"accuracy": orientation if p == "Orientation" else 50.0} for p in PATTERNS}
    _write(folder / "mmvp_vlm", "mmvp_vlm", {"average": accuracy, "pair_accuracy": accuracy}, data, spec, per_category)


def test_differences_pair_by_data_average_per_model_and_give_a_t_interval_over_models(tmp_path):
    base = {"w1": 30.0, "w2": 20.0}  # world w2 is harder for everyone: pairing removes it
    dcr = {"s0": {"w1": 31.0, "w2": 23.0}, "s1": {"w1": 30.5, "w2": 20.5}, "s2": {"w1": 29.0, "w2": 20.0}}
    runs = []
    for world, value in base.items():
        _mmvp(tmp_path / f"base-{world}", f"./worlds/{world}/mmvp_vlm", "zoo:tiny-clip", value, value)
        runs.append(f"base={tmp_path / f'base-{world}'}")
    for seed, values in dcr.items():
        for world, value in values.items():
            _mmvp(tmp_path / f"{seed}-{world}", f"worlds/{world}/mmvp_vlm", f"models/{seed}", value, value + 1)
            runs.append(f"dcr={tmp_path / f'{seed}-{world}'}")
    _mmvp(tmp_path / "s0-w3", "worlds/w3/mmvp_vlm", "models/s0", 99.0, 99.0)  # no base run on w3: left out
    runs.append(f"dcr={tmp_path / 's0-w3'}")
    summary = write_paired_tables(runs, "base", tmp_path / "out")

    per_model = [statistics.fmean(values[w] - base[w] for w in base) for values in dcr.values()]  # 2.0, 0.5, -0.5
    mean, std = statistics.fmean(per_model), statistics.stdev(per_model)
    half = T_975_DF2 * std / math.sqrt(3)
    cell = summary["tables"]["headline metrics"]["rows"]["dcr"]["mmvp_vlm pair_accuracy"]
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(mean) and cell["std"] == pytest.approx(std)
    assert cell["low"] == pytest.approx(mean - half) and cell["high"] == pytest.approx(mean + half)
    orientation = summary["tables"]["MMVP-VLM pair accuracy (%)"]["rows"]["dcr"]["Orientation"]
    assert orientation["mean"] == pytest.approx(mean + 1)  # the per-pattern column pairs the same way
    assert summary["tables"]["MMVP-VLM pair accuracy (%)"]["rows"]["dcr"]["Color"]["mean"] == 0.0
    assert summary["unpaired"] == {"dcr": 1}
    table = (tmp_path / "out" / "paired.md").read_text()
    assert f"| dcr (n=3) | {mean:+.3f} ± {std:.3f} [{mean - half:+.3f}, {mean + half:+.3f}] |" in table
    assert "dcr 1" in table and json.loads((tmp_path / "out" / "paired.json").read_text())["reference"] == "base"


def test_one_model_gives_a_mean_only_several_reference_runs_count_as_their_mean(tmp_path):
    _mmvp(tmp_path / "base", "w/mmvp_vlm", "zoo:tiny-clip", 30.0, 30.0)
    _write(tmp_path / "base" / "zeroshot", "zeroshot", {"acc1": 0.8}, "w/mmvp_vlm", "zoo:tiny-clip")
    _mmvp(tmp_path / "dcr", "w/mmvp_vlm", "models/s0", 32.0, 30.0)
    _write(tmp_path / "dcr" / "zeroshot", "zeroshot", {"acc1": 0.7}, "w/mmvp_vlm", "models/s0")
    _mmvp(tmp_path / "base-again", "w/mmvp_vlm", "zoo:tiny-clip-2", 29.0, 30.0)  # a second reference run there
    runs = [f"base={tmp_path / 'base'}", f"dcr={tmp_path / 'dcr'}", f"base={tmp_path / 'base-again'}"]
    summary = write_paired_tables(runs, "base", tmp_path / "out")
    row = summary["tables"]["headline metrics"]["rows"]["dcr"]
    assert row["mmvp_vlm pair_accuracy"] == {"mean": 2.5, "std": None, "n": 1, "low": None, "high": None}  # 32 - 29.5
    assert row["zeroshot acc1"]["mean"] == pytest.approx(-0.1)
    assert "| dcr (n=1) | +2.500 | -0.100 |" in (tmp_path / "out" / "paired.md").read_text()


def test_cli_rejects_a_reference_label_no_run_has(tmp_path, capsys):
    from openeyes.cli import main

    _mmvp(tmp_path / "base", "w/mmvp_vlm", "zoo:tiny-clip", 30.0, 30.0)
    assert main(["eval", "compare", f"base={tmp_path / 'base'}", "--out", str(tmp_path / "out"), "--paired-to", "bsae"]) == 2
    assert "--paired-to bsae: no run has that label (labels: base)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written

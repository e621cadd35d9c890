"""`compare`: repeats grouped by label give mean ± sample std; the table and JSON agree."""
import json

import pytest

from openeyes.errors import UserError
from openeyes.eval_mllm.compare import compare


def _write(folder, bench, metrics, name="m"):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(
        {"benchmark": bench, "protocol": "p", "headline": next(iter(metrics)), "metrics": metrics,
         "model": {"card_name": name}}))


def test_mean_and_sample_std_over_repeats(tmp_path):
    for seed, value in enumerate([0.2, 0.4, 0.6]):
        _write(tmp_path / f"a{seed}" / "mmvp_vlm", "mmvp_vlm", {"pair_accuracy": value})
    _write(tmp_path / "b" / "mmvp_vlm", "mmvp_vlm", {"pair_accuracy": 0.5})
    summary = compare([f"A={tmp_path / f'a{s}'}" for s in range(3)] + [f"B={tmp_path / 'b'}"], tmp_path / "out")
    cell = summary["cells"]["A"]["mmvp_vlm/pair_accuracy"]
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(0.4) and cell["std"] == pytest.approx(0.2)
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert "| A (n=3) | 0.400 ± 0.200 |" in table and "| B (n=1) | 0.500 |" in table


def test_missing_run_folder_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        compare([str(tmp_path / "nope")], tmp_path / "out")

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


def test_cli_writes_markdown_json_and_png_plots(tmp_path, capsys):
    from PIL import Image

    from openeyes.cli import main

    for label, values in (("base", (0.25, 0.5)), ("saco", (0.5, 0.75))):
        _write(tmp_path / label / "pope", "pope", {"mean_f1": values[0], "accuracy": values[1]}, name=label)
        _write(tmp_path / label / "mmvp", "mmvp", {"pair_accuracy": values[0]}, name=label)
    out = tmp_path / "cmp"
    assert main(["eval", "compare", f"base={tmp_path / 'base'}", f"saco={tmp_path / 'saco'}", "--out", str(out)]) == 0
    table = (out / "comparison.md").read_text()
    assert "| base (n=1) | 0.250 | 0.250 |" in table and "| saco (n=1) | 0.500 | 0.500 |" in table
    printed = capsys.readouterr().out
    assert "![pope](pope.png)" in table and "| saco (n=1) | 0.500 | 0.500 |" in printed
    assert f"comparison written to {out}: comparison.md, comparison.json, 2 plots (mmvp.png, pope.png)" in printed
    assert json.loads((out / "comparison.json").read_text())["cells"]["saco"]["pope/mean_f1"]["mean"] == 0.5
    plots = sorted(out.glob("*.png"))
    assert [p.name for p in plots] == ["mmvp.png", "pope.png"]
    for path in plots:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 100 and image.height > 100


def test_missing_run_folder_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        compare([str(tmp_path / "nope")], tmp_path / "out")

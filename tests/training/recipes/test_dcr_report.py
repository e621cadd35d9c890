"""The stage-1 binding report: means of the last logged records, and clear errors."""
import json
import math

import pytest

from openeyes.errors import UserError
from openeyes.training.recipes.dcr_report import main, stage1_report


def write_log(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_report_averages_the_last_records_that_carry_the_loss(tmp_path, capsys):
    records = [{"step": s, "dcr": 1.6 - 0.01 * s, "_dcr_binding": 0.1 * s, "_dcr_feature_gain": 1.0 + 0.01 * s}
               for s in range(1, 9)]
    records.insert(3, {"step": 4, "lr": 0.001})  # a record without the loss is not counted
    write_log(tmp_path / "stage1", records[::-1])  # order on disk does not matter
    report = stage1_report(tmp_path / "stage1", negatives=3, last=3)
    assert report["step"] == 8 and report["records"] == 3
    assert report["dcr"] == pytest.approx(1.6 - 0.07)
    assert report["binding"] == pytest.approx(0.7)
    assert report["feature_gain"] == pytest.approx(1.07)
    assert report["log_k_plus_2"] == pytest.approx(math.log(5))
    assert "anchor_mse" not in report  # absent from this log
    main([str(tmp_path / "stage1"), "--negatives", "3", "--last", "3"])
    assert json.loads(capsys.readouterr().out)["binding"] == pytest.approx(0.7)


def test_report_refuses_a_folder_without_a_log_or_without_losses(tmp_path):
    with pytest.raises(UserError, match="not a trainer run folder"):
        stage1_report(tmp_path, negatives=3)
    write_log(tmp_path, [{"step": 1, "lr": 0.001}])
    with pytest.raises(UserError, match="no logged L_dcr"):
        stage1_report(tmp_path, negatives=3)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing"), "--negatives", "3"])
    assert exit_info.value.code == 2

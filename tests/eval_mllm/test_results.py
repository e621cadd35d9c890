"""The results artifact: schema, predictions, report, plots, card; NaN becomes null."""
import json
import math

import pytest

from openeyes.artifacts import read_card
from openeyes.errors import UserError
from openeyes.eval_mllm.results import (
    SCHEMA, BenchmarkResult, json_safe, model_record, read_results, write_results, write_summary,
)

SCHEMA_KEYS = {"schema", "benchmark", "protocol", "model", "data", "seed", "options", "headline",
               "metrics", "per_category", "created", "code_version"}


def sample_result() -> BenchmarkResult:
    return BenchmarkResult(
        benchmark="zeroshot",
        protocol="CLIP_benchmark zeroshot_classification",
        headline="acc1",
        metrics={"acc1": 0.75, "acc5": math.nan, "mean_per_class_recall": 0.5},
        per_category={"cat": {"recall": 1.0, "n": 3}, "dog": {"recall": 0.0, "n": 1}},
        predictions=[{"index": 0, "pred": 1}, {"index": 1, "pred": 0, "score": float("inf")}],
        data={"path": "/data/x", "layout": "imagefolder", "n_images": 4},
        options={"split": "test"},
    )


def test_write_results_writes_every_part(tmp_path):
    out = tmp_path / "run"
    payload = write_results(out, sample_result(), model_record("some/spec", "tiny"), seed=3)
    on_disk = json.loads((out / "results.json").read_text())
    assert set(on_disk) == SCHEMA_KEYS and on_disk == payload
    assert on_disk["schema"] == SCHEMA and on_disk["seed"] == 3
    assert on_disk["metrics"] == {"acc1": 0.75, "acc5": None, "mean_per_class_recall": 0.5}
    assert on_disk["model"] == {"spec": "some/spec", "name": "tiny", "card_name": None, "card_hash": None}
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"index": 0, "pred": 1}, {"index": 1, "pred": 0, "score": None}]
    report = (out / "report.md").read_text()
    assert "| acc5 | n/a |" in report and "| cat | 1.0000 | 3 |" in report and "acc1 = 0.7500" in report
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "per_category.png").is_file() and "![metrics.png](metrics.png)" in report
    card = read_card(out, kind="results")
    assert card["metrics"]["acc5"] is None and card["benchmark"] == "zeroshot" and card["seed"] == 3
    assert read_results(out) == on_disk


def test_results_json_is_strict_json(tmp_path):
    write_results(tmp_path, sample_result(), model_record(None, "m"))
    json.loads((tmp_path / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_model_record_of_an_artifact_has_card_name_and_hash(tmp_path):
    from openeyes.artifacts import write_card

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    write_card(tmp_path, "encoder", "my-encoder")
    record = model_record(str(tmp_path), "x")
    assert record["card_name"] == "my-encoder" and len(record["card_hash"]) == 16


def test_read_results_refuses_other_artifacts(tmp_path):
    from openeyes.artifacts import write_card

    write_card(tmp_path, "encoder", "e")
    with pytest.raises(UserError, match="is a 'encoder' artifact, expected 'results'"):
        read_results(tmp_path)


def test_summary(tmp_path):
    payloads = {"zeroshot": write_results(tmp_path / "zeroshot", sample_result(), model_record(None, "m"))}
    write_summary(tmp_path, payloads)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["zeroshot"]["headline"] == "acc1" and summary["zeroshot"]["value"] == 0.75
    assert "| zeroshot | acc1 | 0.7500 |" in (tmp_path / "summary.md").read_text()


def test_json_safe():
    assert json_safe({"a": (1.0, math.nan), "b": {"c": -math.inf}}) == {"a": [1.0, None], "b": {"c": None}}

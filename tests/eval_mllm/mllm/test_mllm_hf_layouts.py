"""Loaders on the layouts the real data comes in from the Hugging Face Hub: ``save_to_disk`` folders
with embedded images (lmms-eval's POPE and MMVP copies, NaturalBench) and CV-Bench's parquet files
(image structs ``{"bytes", "path"}``); broken rows are named by file/split and row."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm import cv_bench, mmvp, naturalbench, pope

datasets = pytest.importorskip("datasets")
pyarrow = pytest.importorskip("pyarrow")

from mllm_fixtures import cv_bench_rows, naturalbench_wide_rows, pope_rows  # noqa: E402


def png_bytes(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 255 - shade, 32)).save(buffer, format="PNG")
    return buffer.getvalue()


def save_dataset(rows: list[dict], image_columns: tuple[str, ...], folder, split: str):
    """A ``DatasetDict({split: ...})`` saved to disk, with ``image_columns`` as ``datasets.Image``."""
    features = datasets.Dataset.from_list(rows).features
    for column in image_columns:
        features[column] = datasets.Image()
    dataset = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict({split: dataset}).save_to_disk(str(folder))
    return folder


def pope_copy_rows() -> list[dict]:
    """lmms-lab/POPE ``default``/``test``: id, question_id (restarting per category), question, answer, image."""
    rows = []
    for category in ("adversarial", "popular", "random"):
        for row in pope_rows(3):
            rows.append({"id": str(len(rows)), "question_id": str(row["question_id"]), "question": row["text"],
                         "answer": row["label"], "image_source": row["image"][:-4], "category": category,
                         "image": {"bytes": png_bytes(row["question_id"]), "path": None}})
    return rows


def test_pope_lmms_eval_copy_saved_to_disk(tmp_path):
    folder = save_dataset(pope_copy_rows(), ("image",), tmp_path / "POPE", "test")
    items = pope.load(folder, image_cache=tmp_path / "cache")
    assert len(items) == 9 and items[0].id == "adversarial:1" and items[-1].id == "random:3"
    assert all(item.image.parent == tmp_path / "cache" and item.image.is_file() for item in items)
    with Image.open(items[1].image) as image:
        assert image.getpixel((0, 0))[:2] == (2, 253)  # the embedded bytes of row 2, not a placeholder
    assert [item.split for item in pope.load(folder, split="popular", image_cache=tmp_path / "cache")] == ["popular"] * 3


def test_pope_copy_bad_row_is_named_with_split_and_row(tmp_path):
    rows = pope_copy_rows()
    rows[4]["answer"] = "maybe"
    folder = save_dataset(rows, ("image",), tmp_path / "POPE", "test")
    with pytest.raises(UserError, match=r"POPE \[test\] row 4: label 'maybe' is not yes or no"):
        pope.load(folder, image_cache=tmp_path / "cache")


def mmvp_copy_rows(pairs: int = 2) -> list[dict]:
    """lmms-lab-eval/MMVP ``train``: Index, Question, Options, Correct Answer, image."""
    rows = []
    for k in range(2 * pairs):
        rows.append({"Index": k + 1, "Question": f"Question {k // 2}?", "Options": "(a) Open (b) Closed",
                     "Correct Answer": "(a)" if k % 2 == 0 else "(b)", "image": {"bytes": png_bytes(k), "path": None}})
    return rows


def test_mmvp_lmms_eval_copy_saved_to_disk(tmp_path):
    folder = save_dataset(mmvp_copy_rows(), ("image",), tmp_path / "MMVP", "train")
    items = mmvp.load(folder, image_cache=tmp_path / "cache")
    assert [item.id for item in items] == [1, 2, 3, 4] and [item.gold_letter for item in items] == ["A", "B", "A", "B"]
    assert len({item.image for item in items}) == 4
    rows = mmvp_copy_rows()
    rows[2]["Index"] = 7
    folder = save_dataset(rows, ("image",), tmp_path / "MMVP-bad", "train")
    with pytest.raises(UserError, match=r"MMVP-bad \[train\] row 2: Index 7 out of order"):
        mmvp.load(folder, image_cache=tmp_path / "cache")


def naturalbench_hub_rows(groups: int = 2) -> list[dict]:
    """BaiqiL/NaturalBench ``train``: the wide table with Image_0 / Image_1 as embedded images."""
    rows = naturalbench_wide_rows(groups)
    for g, row in enumerate(rows):
        row["Image_0"] = {"bytes": png_bytes(2 * g), "path": None}
        row["Image_1"] = {"bytes": png_bytes(2 * g + 1), "path": None}
    return rows


def test_naturalbench_saved_to_disk(tmp_path):
    folder = save_dataset(naturalbench_hub_rows(), ("Image_0", "Image_1"), tmp_path / "NaturalBench", "train")
    items = naturalbench.load(folder, image_cache=tmp_path / "cache")
    assert [item.id for item in items] == list(range(8))
    assert items[0].image == items[2].image != items[1].image == items[3].image  # q0i0, q0i1, q1i0, q1i1
    rows = naturalbench_hub_rows()
    rows[1]["Image_0_Question_1"] = "A"
    folder = save_dataset(rows, ("Image_0", "Image_1"), tmp_path / "NB-bad", "train")
    with pytest.raises(UserError, match=r"NB-bad \[train\] row 1: gold A/B/A/A breaks"):
        naturalbench.load(folder, image_cache=tmp_path / "cache")


def cv_bench_parquet_rows() -> dict[str, list[dict]]:
    """The hub's test_2d/test_3d parquet rows: the JSONL fields with ``image`` as an embedded struct."""
    rows = cv_bench_rows()
    for kind in rows:
        for row in rows[kind]:
            row["image"] = {"bytes": png_bytes(row["idx"]), "path": row["filename"].rsplit("/", 1)[-1]}
    return rows


def write_cv_bench_parquet(root, rows) -> None:
    import pyarrow.parquet as parquet

    root.mkdir(parents=True, exist_ok=True)
    for kind, kind_rows in rows.items():
        parquet.write_table(pyarrow.Table.from_pylist(kind_rows), root / f"test_{kind.lower()}.parquet")


def test_cv_bench_parquet_with_embedded_images(tmp_path):
    write_cv_bench_parquet(tmp_path / "CV-Bench", cv_bench_parquet_rows())
    items = cv_bench.load(tmp_path / "CV-Bench", image_cache=tmp_path / "cache")  # no img/ folder: bytes only
    assert [item.id for item in items] == [0, 1, 2, 3, 4, 5] and [item.type for item in items] == ["2D"] * 4 + ["3D"] * 2
    assert all(item.image.parent == tmp_path / "cache" for item in items)
    assert [item.id for item in cv_bench.load(tmp_path / "CV-Bench", split="3D", image_cache=tmp_path / "cache")] == [4, 5]
    broken = cv_bench_parquet_rows()
    broken["3D"][1]["answer"] = "C"
    write_cv_bench_parquet(tmp_path / "bad", broken)
    with pytest.raises(UserError, match=r"test_3d\.parquet row 1: answer 'C' is not one of \(A\)\.\.\(B\)"):
        cv_bench.load(tmp_path / "bad", image_cache=tmp_path / "cache")


def test_cv_bench_saved_to_disk(tmp_path):
    rows = cv_bench_parquet_rows()
    folder = save_dataset(rows["2D"] + rows["3D"], ("image",), tmp_path / "cvb", "test")
    items = cv_bench.load(folder, image_cache=tmp_path / "cache")
    assert [item.source for item in items] == ["ADE20K", "ADE20K", "COCO", "COCO", "Omni3D", "Omni3D"]

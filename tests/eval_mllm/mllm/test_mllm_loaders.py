"""Loaders on fixtures written in the real layouts, and their errors naming file and row."""
from __future__ import annotations

import json

import pytest

from mllm_fixtures import (
    cv_bench_rows, naturalbench_flat_rows, naturalbench_wide_rows, pope_rows, write_cv_bench, write_image,
    write_jsonl, write_mmvp, write_naturalbench, write_pope,
)
from openeyes.errors import UserError
from openeyes.eval_mllm.mllm import cv_bench, mmvp, naturalbench, pope


@pytest.mark.parametrize("header", ["Index", "lndex"])
def test_mmvp_original_layout_and_lndex_typo(tmp_path, header):
    items = mmvp.load(write_mmvp(tmp_path / "mmvp", pairs=2, index_header=header))
    assert [i.id for i in items] == [1, 2, 3, 4]
    assert [i.pair for i in items] == [0, 0, 1, 1]
    assert items[1].gold_letter == "B" and items[1].image.name == "2.jpg"


def test_mmvp_malformed_row_names_file_and_row(tmp_path):
    root = write_mmvp(tmp_path / "mmvp", pairs=2)
    lines = (root / "Questions.csv").read_text().splitlines()
    lines[3] = "3,Question 1?,(a) Left (b) Right"          # row 4: a field is missing
    (root / "Questions.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"Questions\.csv row 4: expected 4 fields"):
        mmvp.load(root)


def test_mmvp_bad_gold_missing_image_and_odd_count(tmp_path):
    rows = [[1, "Q?", "(a) X (b) Y", "(c)"], [2, "Q?", "(a) X (b) Y", "(b)"]]
    with pytest.raises(UserError, match=r"row 2: Correct Answer '\(c\)'"):
        mmvp.load(write_mmvp(tmp_path / "a", rows=rows))
    root = write_mmvp(tmp_path / "b", pairs=1)
    (root / "MMVP Images" / "2.jpg").unlink()
    with pytest.raises(UserError, match=r"row 3: image .*2\.jpg not found"):
        mmvp.load(root)
    with pytest.raises(UserError, match="no pair partner"):
        mmvp.load(write_mmvp(tmp_path / "c", rows=[[1, "Q?", "(a) X (b) Y", "(a)"]]))
    with pytest.raises(UserError, match=r"row 3: Index 5 out of order"):
        mmvp.load(write_mmvp(tmp_path / "d", rows=[[1, "Q?", "(a) X (b) Y", "(a)"], [5, "Q?", "(a) X (b) Y", "(b)"]]))


def test_mmvp_gold_swap_flag(tmp_path):
    rows = []
    for k in range(1, 301, 2):
        rows += [[k, "Q?", "(a) X (b) Y", "(a)"], [k + 1, "Q?", "(a) X (b) Y", "(b)"]]
    root = write_mmvp(tmp_path / "mmvp", rows=rows)
    plain, swapped = mmvp.load(root), mmvp.load(root, swap_gold=True)
    changed = [i.id for i, j in zip(plain, swapped) if i.answer != j.answer]
    assert changed == [99, 100, 279, 280]
    assert (swapped[98].answer, swapped[99].answer) == ("(b)", "(a)")


def test_mmvp_lmms_eval_copy_as_jsonl(tmp_path):
    root = tmp_path / "copy"
    write_image(root / "img" / "1.png")
    write_image(root / "img" / "2.png")
    write_jsonl(root / "train.jsonl", [
        {"Index": 1, "Question": "Q?", "Options": "(a) X (b) Y", "Correct Answer": "(a)", "image": "img/1.png"},
        {"Index": 2, "Question": "Q?", "Options": "(a) X (b) Y", "Correct Answer": "(b)", "image": "img/2.png"}])
    items = mmvp.load(root)
    assert [i.image.name for i in items] == ["1.png", "2.png"]


def test_pope_official_layout_and_split_ids(tmp_path):
    root = write_pope(tmp_path / "pope")
    one = pope.load(root, split="popular")
    assert [i.id for i in one] == [f"popular:{k}" for k in range(1, 7)] and one[0].split == "popular"
    assert [i.question_id for i in one] == [1, 2, 3, 4, 5, 6]
    every = pope.load(root)
    assert len(every) == 18 and every[0].id == "random:1" and every[-1].id == "adversarial:6"
    assert every[0].image.name == "COCO_val2014_000000000000.jpg"


def test_pope_errors_name_file_and_line(tmp_path):
    root = write_pope(tmp_path / "pope", splits=("random",))
    path = root / "coco_pope_random.json"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"no"', '"maybe"').replace('"yes"', '"maybe"')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"coco_pope_random\.json line 3: label 'maybe'"):
        pope.load(root, split="random")
    lines[2] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"coco_pope_random\.json line 3: not valid JSON"):
        pope.load(root, split="random")
    with pytest.raises(UserError, match="popular split file"):
        pope.load(root, split="popular")
    with pytest.raises(UserError, match="unknown POPE split"):
        pope.load(root, split="easy")


def test_pope_missing_image(tmp_path):
    root = write_pope(tmp_path / "pope", splits=("random",))
    (root / "images" / "COCO_val2014_000000000001.jpg").unlink()
    with pytest.raises(UserError, match=r"line 4: image COCO_val2014_000000000001\.jpg not found"):
        pope.load(root)


def test_pope_lmms_eval_copy_jsonl(tmp_path):
    root = tmp_path / "copy"
    rows = []
    for k, split in enumerate(("adversarial", "popular", "random")):
        for row in pope_rows(3):
            rows.append({"id": str(len(rows)), "question_id": str(len(rows) + 1), "question": row["text"],
                         "answer": row["label"], "image_source": row["image"][:-4], "category": split})
    write_jsonl(root / "test.jsonl", rows)
    write_image(root / "images" / "COCO_val2014_000000000000.jpg")
    items = pope.load(root)
    assert len(items) == 9 and items[0].id == "adversarial:1" and items[0].split == "adversarial"
    assert [i.split for i in pope.load(root, split="random")] == ["random"] * 3


def test_cv_bench_raw_layout(tmp_path):
    items = cv_bench.load(write_cv_bench(tmp_path / "cv"))
    assert [i.id for i in items] == [0, 1, 2, 3, 4, 5]
    assert [i.source for i in items] == ["ADE20K", "ADE20K", "COCO", "COCO", "Omni3D", "Omni3D"]
    assert [i.id for i in cv_bench.load(tmp_path / "cv", split="3D")] == [4, 5]


def test_cv_bench_errors(tmp_path):
    root = write_cv_bench(tmp_path / "cv")
    rows = cv_bench_rows()["2D"]
    rows[1]["answer"] = "(E)"
    write_jsonl(root / "test_2d.jsonl", rows)
    with pytest.raises(UserError, match=r"test_2d\.jsonl line 2: answer '\(E\)'"):
        cv_bench.load(root)
    rows[1]["answer"] = "(A)"
    del rows[0]["prompt"]
    write_jsonl(root / "test_2d.jsonl", rows)
    with pytest.raises(UserError, match=r"test_2d\.jsonl line 1: missing field prompt"):
        cv_bench.load(root)


def test_cv_bench_idx_restarting_per_file_is_refused(tmp_path):
    """CV-Bench's idx numbers the whole benchmark: a 3D file restarting at 0 names both rows."""
    root = write_cv_bench(tmp_path / "cv")
    rows = cv_bench_rows()["3D"]
    for k, row in enumerate(rows):
        row["idx"] = k
    write_jsonl(root / "test_3d.jsonl", rows)
    with pytest.raises(UserError, match=r"test_3d\.jsonl line 1: idx 0 repeats \(first at .*test_2d\.jsonl line 1\)"):
        cv_bench.load(root)
    assert [i.id for i in cv_bench.load(root, split="3D")] == [0, 1]  # one file alone is consistent


def test_world_cv_bench_export_numbers_idx_once(tmp_path):
    from openeyes.world.config import WorldConfig
    from openeyes.world.exporters.common import ExportContext
    from openeyes.world.exporters.cv_bench import export

    export(tmp_path / "cv", ExportContext(seed=1, n=2, config=WorldConfig(image_size=32)))
    ids = [item.id for item in cv_bench.load(tmp_path / "cv")]
    assert ids == list(range(8))  # 2 items x 2 tasks x (2D, 3D)


def test_naturalbench_wide_layout_flattening(tmp_path):
    items = naturalbench.load(write_naturalbench(tmp_path / "nb"))
    assert [i.id for i in items] == list(range(8))
    assert [i.position for i in items[:4]] == ["q0_i0", "q0_i1", "q1_i0", "q1_i1"]
    assert [i.image.name for i in items[:4]] == ["0_0.jpg", "0_1.jpg", "0_0.jpg", "0_1.jpg"]
    assert [i.question for i in items[:4]] == ["Is it red?", "Is it red?", "Is it blue?", "Is it blue?"]
    assert [i.gold for i in items[4:]] == ["A", "B", "B", "A"]


def test_naturalbench_broken_gold_pattern(tmp_path):
    rows = naturalbench_wide_rows()
    rows[1]["Image_1_Question_1"] = "B"
    with pytest.raises(UserError, match=r"naturalbench\.jsonl line 2: gold A/B/B/B breaks .*A/B/B/A"):
        naturalbench.load(write_naturalbench(tmp_path / "nb", rows))


def test_naturalbench_question_type_spelling_and_bad_type(tmp_path):
    rows = naturalbench_wide_rows()
    rows[0]["Question Type"] = rows[0].pop("Question_Type")
    rows[1]["Question_Type"] = "open"
    with pytest.raises(UserError, match=r"line 2: Question_Type 'open'"):
        naturalbench.load(write_naturalbench(tmp_path / "nb", rows))


def test_naturalbench_flat_lmms_eval_copy(tmp_path):
    root = write_naturalbench(tmp_path / "flat", naturalbench_flat_rows(), name="test.jsonl")
    items = naturalbench.load(root)
    assert [i.id for i in items] == list(range(8)) and items[4].question_type == "multiple_choice"
    broken = naturalbench_flat_rows()
    broken[2]["answer"] = "Yes"
    with pytest.raises(UserError, match=r"test\.jsonl line 1: gold Yes/No/Yes/Yes breaks"):
        naturalbench.load(write_naturalbench(tmp_path / "broken", broken, name="test.jsonl"))


def test_parquet_needs_pyarrow_or_reads_it(tmp_path):
    rows = naturalbench_wide_rows()
    write_naturalbench(tmp_path / "nb", rows)
    (tmp_path / "nb" / "naturalbench.jsonl").unlink()
    try:
        import pyarrow
        import pyarrow.parquet as parquet
    except ImportError:
        (tmp_path / "nb" / "train.parquet").write_bytes(b"PAR1")
        with pytest.raises(UserError, match="needs pyarrow"):
            naturalbench.load(tmp_path / "nb")
        return
    parquet.write_table(pyarrow.Table.from_pylist(rows), tmp_path / "nb" / "train.parquet")
    assert len(naturalbench.load(tmp_path / "nb")) == 8


def test_hf_disk_folder_needs_datasets(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    try:
        import datasets
        datasets.load_from_disk
    except (ImportError, AttributeError):
        with pytest.raises(UserError, match="needs the 'datasets' package"):
            naturalbench.load(folder)
        return
    pytest.skip("datasets is installed: exercised by test_mllm_hf_layouts.py")

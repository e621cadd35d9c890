"""Loaders for the real layouts: what they read, in which order, and how they refuse bad input."""
import csv
import json

import pytest

from encoder_fixtures import (
    CLASSES, RETRIEVAL_CAPTIONS, write_coco, write_flickr, write_imagefolder, write_mmvp_vlm,
    write_naturalbench_retrieval, write_tar, write_wds_classification, write_wds_retrieval,
)
from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.classification import load_classification
from openeyes.eval_mllm.encoder.data.discover import find_data
from openeyes.eval_mllm.encoder.data.mmvp_vlm import load_mmvp_vlm
from openeyes.eval_mllm.encoder.data.naturalbench import load_naturalbench_retrieval
from openeyes.eval_mllm.encoder.data.retrieval import load_retrieval


# ---- MMVP-VLM ---------------------------------------------------------------------------

def rewrite_csv(root, edit):
    path = root / "Questions.csv"
    rows = list(csv.reader(open(path, newline="")))
    edit(rows)
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_mmvp_vlm_reads_pairs_in_csv_order(tmp_path):
    root = write_mmvp_vlm(tmp_path, pairs_per_type=2)
    data = load_mmvp_vlm(root)
    assert len(data.pairs) == 18
    first = data.pairs[0]
    assert (first.qid1, first.qid2, first.type) == (1, 2, "Orientation")
    assert first.image1 == root / "MLLM_VLM Images" / "Orientation" / "1.jpg"
    assert first.statement1.startswith("the orientation statement 0")
    assert data.pairs[-1].type == "Camera Perspective" and data.pairs[-1].qid2 == 36


def test_mmvp_vlm_images_read_from_first_rows_type_folder(tmp_path):
    root = write_mmvp_vlm(tmp_path, pairs_per_type=1)
    rewrite_csv(root, lambda rows: rows[2].__setitem__(1, "Presence"))  # qid 2 says another Type
    with pytest.raises(UserError, match=r"rows 2-3: the pair's Types differ"):
        load_mmvp_vlm(root)


def test_mmvp_vlm_malformed_row_names_file_and_row(tmp_path):
    root = write_mmvp_vlm(tmp_path, pairs_per_type=1)
    rewrite_csv(root, lambda rows: rows[4].__setitem__(0, "x4"))
    with pytest.raises(UserError, match=r"Questions\.csv row 5: Question ID 'x4'"):
        load_mmvp_vlm(root)


def test_mmvp_vlm_missing_image_names_row(tmp_path):
    root = write_mmvp_vlm(tmp_path, pairs_per_type=1)
    (root / "MLLM_VLM Images" / "State" / "6.jpg").unlink()
    with pytest.raises(UserError, match=r"row 7: image .*State/6\.jpg is missing"):
        load_mmvp_vlm(root)


def test_mmvp_vlm_bad_pairing_and_header(tmp_path):
    root = write_mmvp_vlm(tmp_path, pairs_per_type=1)
    rewrite_csv(root, lambda rows: rows[1].__setitem__(0, "3"))
    with pytest.raises(UserError, match=r"rows 2-3: a pair must be \(odd qid, qid \+ 1\), found \(3, 2\)"):
        load_mmvp_vlm(root)
    rewrite_csv(root, lambda rows: rows[0].__setitem__(0, "QID"))
    with pytest.raises(UserError, match="row 1: expected the header"):
        load_mmvp_vlm(root)


def test_mmvp_vlm_wrong_folder_name_is_refused(tmp_path):
    root = write_mmvp_vlm(tmp_path, pairs_per_type=1)
    (root / "MLLM_VLM Images").rename(root / "MMVP_VLM_Images")
    with pytest.raises(UserError, match="'MLLM_VLM Images' is missing"):
        load_mmvp_vlm(root)


# ---- classification ----------------------------------------------------------------------

def test_imagefolder_order_names_and_templates(tmp_path):
    data = load_classification(write_imagefolder(tmp_path, per_class=2))
    assert data.layout == "imagefolder" and data.classnames == CLASSES
    assert data.labels == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert data.images.names()[:2] == ["test/00_class/0.png", "test/00_class/1.png"]
    assert data.templates == ["a photo of a {c}.", "a drawing of the {c}."]
    batches = list(data.images.iter_batches(5))
    assert [len(b) for b in batches] == [5, 5, 2] and batches[0][0].mode == "RGB"


def test_imagefolder_classname_count_must_match(tmp_path):
    root = write_imagefolder(tmp_path, per_class=1)
    (root / "classnames.txt").write_text("a\nb\n")
    with pytest.raises(UserError, match="lists 2 classes but .* has 6 class folders"):
        load_classification(root)


def test_template_without_placeholder_names_file_and_row(tmp_path):
    root = write_imagefolder(tmp_path, per_class=1)
    (root / "zeroshot_classification_templates.txt").write_text("a photo of a {c}.\na photo of a thing.\n")
    with pytest.raises(UserError, match=r"zeroshot_classification_templates\.txt row 2: .* no '\{c\}'"):
        load_classification(root)


def test_class_specific_templates_json(tmp_path):
    root = write_imagefolder(tmp_path, per_class=1)
    (root / "zeroshot_classification_templates.txt").unlink()
    (root / "zeroshot_classification_templates.json").write_text(json.dumps({c: [f"{c} prompt"] for c in CLASSES}))
    assert load_classification(root).templates["red square"] == ["red square prompt"]


def test_empty_class_folder_is_refused(tmp_path):
    root = write_imagefolder(tmp_path, per_class=1)
    for image in (root / "test" / "03_class").iterdir():
        image.unlink()
    with pytest.raises(UserError, match="03_class holds no image"):
        load_classification(root)


def test_webdataset_classification(tmp_path):
    data = load_classification(write_wds_classification(tmp_path, per_class=2, shards=2))
    assert data.layout == "webdataset"
    assert data.labels == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert data.images.names()[0] == "0.tar:s00000.png" and data.images.names()[1] == "0.tar:s00001.webp"
    images = [im for batch in data.images.iter_batches(4) for im in batch]
    assert len(images) == 12 and images[0].size == (32, 32)


def test_webdataset_bad_label_names_shard_and_sample(tmp_path):
    root = write_wds_classification(tmp_path, per_class=1, shards=1)
    from encoder_fixtures import image_bytes, make_image

    write_tar(root / "test" / "0.tar", [("k1.png", image_bytes(make_image((1, 2, 3)), "PNG")), ("k1.cls", b"7")])
    with pytest.raises(UserError, match=r"0\.tar: k1\.cls = 7 is outside the 6 class names"):
        load_classification(root)
    write_tar(root / "test" / "0.tar", [("k1.png", image_bytes(make_image((1, 2, 3)), "PNG"))])
    with pytest.raises(UserError, match=r"0\.tar: sample 'k1' has no \.cls member"):
        load_classification(root)


def test_webdataset_missing_shard(tmp_path):
    root = write_wds_classification(tmp_path, shards=2)
    (root / "test" / "1.tar").unlink()
    with pytest.raises(UserError, match=r"announces 2 shards but .*1\.tar is missing"):
        load_classification(root)


# ---- retrieval ----------------------------------------------------------------------------

@pytest.mark.parametrize("writer,layout", [
    (write_flickr, "flickr30k_karpathy"), (write_coco, "coco_karpathy"), (write_wds_retrieval, "webdataset"),
])
def test_retrieval_layouts_group_variable_captions(tmp_path, writer, layout):
    data = load_retrieval(writer(tmp_path))
    assert data.layout == layout
    assert data.captions == RETRIEVAL_CAPTIONS
    texts, owners = data.flat_texts()
    assert owners == [0, 0, 1, 1, 1, 2, 3, 3] and texts[2] == "a green circle"
    assert sum(len(b) for b in data.images.iter_batches(3)) == 4


def test_flickr_caption_with_comma_splits_on_jpg_comma(tmp_path):
    root = write_flickr(tmp_path)
    path = root / "flickr30k_test_karpathy.txt"
    path.write_text(path.read_text() + "1000.jpg,a red square, seen from above\n")
    data = load_retrieval(root)
    assert data.captions[0][-1] == "a red square, seen from above"


def test_flickr_malformed_row_names_file_and_row(tmp_path):
    root = write_flickr(tmp_path)
    path = root / "flickr30k_test_karpathy.txt"
    lines = path.read_text().splitlines()
    lines[3] = "1001.png,a green disk"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"flickr30k_test_karpathy\.txt row 4: expected '<image>\.jpg,<caption>'"):
        load_retrieval(root)


def test_flickr_missing_image_names_row(tmp_path):
    root = write_flickr(tmp_path)
    (root / "flickr30k-images" / "1002.jpg").unlink()
    with pytest.raises(UserError, match=r"row 7: image .*1002\.jpg is missing"):
        load_retrieval(root)


def test_coco_orders_images_by_id_and_checks_references(tmp_path):
    root = write_coco(tmp_path)
    data = load_retrieval(root)
    assert data.images.names()[0].endswith("000000000030.jpg")
    payload = json.loads((root / "coco_test_karpathy.json").read_text())
    payload["annotations"].append({"id": 99, "image_id": 12345, "caption": "orphan"})
    (root / "coco_test_karpathy.json").write_text(json.dumps(payload))
    with pytest.raises(UserError, match=r"annotations\[8\]: image_id 12345 is not in 'images'"):
        load_retrieval(root)


def test_naturalbench_retrieval(tmp_path):
    data = load_naturalbench_retrieval(write_naturalbench_retrieval(tmp_path, groups=3))
    assert data.indices == [0, 1, 2] and len(data.images) == 6 and data.captions[1] == "group 0 second"
    (tmp_path / "images" / "1_1.jpg").unlink()
    with pytest.raises(UserError, match=r"metadata\.json entry 1: image 1_1\.jpg not found"):
        load_naturalbench_retrieval(tmp_path)


# ---- discovery ---------------------------------------------------------------------------

def test_find_data_in_a_world_like_root(world_like_root):
    assert find_data("mmvp_vlm", world_like_root) == world_like_root / "mmvp_vlm"
    assert find_data("classification", world_like_root) == world_like_root / "classification"
    assert find_data("retrieval", world_like_root) == world_like_root / "retrieval"
    assert find_data("naturalbench_retrieval", world_like_root) is None
    # a folder that is itself the benchmark
    assert find_data("retrieval", world_like_root / "retrieval") == world_like_root / "retrieval"


def test_retrieval_webdataset_is_not_taken_for_classification(tmp_path):
    write_wds_retrieval(tmp_path / "wds")
    assert find_data("classification", tmp_path) is None
    assert find_data("retrieval", tmp_path) == tmp_path / "wds"

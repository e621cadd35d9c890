"""Datasets: determinism in (seed, split, index), disjoint splits, labels and classes."""
import numpy as np
import pytest

from openeyes.world.dataset import WorldClassification, WorldImageText, main_object
from openeyes.world.scene import describe
from openeyes.world.vocab import CLASSIFICATION_CLASSES, CLASSIFICATION_TEMPLATES, COLOR_NAMES, NOUNS


def test_image_text_items_are_deterministic_and_well_formed():
    a, b = WorldImageText(3, "train", length=50), WorldImageText(3, "train", length=50)
    for i in (0, 7, 49, -1):
        x, y = a[i], b[i]
        assert x["image"].dtype == np.uint8 and x["image"].shape == (64, 64, 3)
        assert np.array_equal(x["image"], y["image"]) and x["text"] == y["text"] and x["labels"] == y["labels"]
    assert len(a) == 50
    with pytest.raises(IndexError):
        a[50]


def test_random_access_order_does_not_matter():
    data = WorldImageText(1, "train", length=20)
    forward = [data[i]["text"] for i in range(20)]
    backward = [data[i]["text"] for i in reversed(range(20))][::-1]
    assert forward == backward


def test_seed_and_split_change_the_items():
    base = WorldImageText(0, "train", length=10)
    for other in (WorldImageText(1, "train", length=10), WorldImageText(0, "val", length=10)):
        assert sum(np.array_equal(base[i]["image"], other[i]["image"]) for i in range(10)) == 0


def test_splits_never_share_a_scene():
    scenes = {}
    for split in ("train", "val", "test"):
        data = WorldImageText(0, split, length=300)
        scenes[split] = {repr(describe(data.scene(i))) for i in range(300)}
    assert not scenes["train"] & scenes["val"]
    assert not scenes["train"] & scenes["test"]
    assert not scenes["val"] & scenes["test"]


def test_labels_describe_the_main_object_and_scene_size():
    data = WorldImageText(5, "train", length=40)
    sizes = set()
    for i in range(40):
        scene, labels = data.scene(i), data[i]["labels"]
        obj = main_object(scene)
        assert labels["shape"] == obj.noun and NOUNS[labels["shape_id"]] == obj.noun
        assert labels["color"] == obj.color and COLOR_NAMES[labels["color_id"]] == obj.color
        assert labels["count"] == len(scene.objects)
        assert obj.noun in data[i]["text"] or (obj.glyph and obj.glyph in data[i]["text"])
        sizes.add(len(scene.objects))
    assert sizes <= {1, 2, 3, 4} and len(sizes) >= 3


def test_image_size_is_honoured():
    item = WorldImageText(0, "train", size=32, length=3)[1]
    assert item["image"].shape == (32, 32, 3)


def test_classification_cycles_through_classes():
    data = WorldClassification(0, "test", length=2 * len(CLASSIFICATION_CLASSES))
    assert 60 <= len(CLASSIFICATION_CLASSES) <= 100 and len(set(CLASSIFICATION_CLASSES)) == len(CLASSIFICATION_CLASSES)
    assert all("{c}" in t for t in CLASSIFICATION_TEMPLATES) and len(CLASSIFICATION_TEMPLATES) >= 4
    for i in (0, 5, 90, 175):
        item = data[i]
        assert item["label"] == i % len(CLASSIFICATION_CLASSES)
        assert item["text"] == CLASSIFICATION_CLASSES[item["label"]]
        scene = data.scene(i)
        assert len(scene.objects) == 1
        obj = scene.objects[0]
        assert f"{obj.color} {obj.noun}" == item["text"]
        assert item["image"].shape == (64, 64, 3)

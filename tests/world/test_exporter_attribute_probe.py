"""The attribute-probe export: labels that follow from the scenes, pairs whole within one split,
byte-identical output for a seed, and the other pair exports left as they were."""
import csv
import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openeyes.world.config import WorldConfig
from openeyes.world.exporters.attribute_probe import SPLITS, split_pairs
from openeyes.world.exporters.common import ExportContext
from openeyes.world.generate import generate_world
from openeyes.world.pairs import PATTERNS
from openeyes.world.scene import place

N, SEED, SIZE = 12, 7, 64
CONFIG = dataclasses.replace(WorldConfig(), image_size=SIZE)
STRUCTURE = {("star", "5"): "five-pointed", ("star", "6"): "six-pointed", ("hexagon", "6"): "hexagon",
             ("hexagon", "8"): "octagon"}


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "out"
    generate_world(out, seed=SEED, n=N, size=SIZE, names=["attribute_probe"])
    return out / "attribute_probe"


def read_rows(root: Path, split: str) -> list[dict]:
    with open(root / f"{split}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def label_from_scene(pattern: str, scene) -> str:
    """What a reader of the scene description alone calls the varied attribute."""
    target = scene.objects[0]
    if pattern == "Orientation":
        return target.orientation
    if pattern == "Presence":
        return "present" if target.mark == "dot" else "absent"
    if pattern == "State":
        return target.fill
    if pattern == "Quantity":
        return str(sum(o.noun == target.noun for o in scene.objects))
    if pattern == "Spatial":
        mover, anchor = (place(o, scene.camera, CONFIG) for o in scene.objects[:2])
        return "left" if mover.cx < anchor.cx else "right"
    if pattern == "Color":
        return target.color
    if pattern == "Structural Character":
        return STRUCTURE[(target.shape, target.variant)]
    if pattern == "Text":
        return target.glyph
    return "close-up" if scene.camera.zoom == CONFIG.closeup_zoom else "wide"


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_counts(probe_root):
    assert sorted(p.name for p in probe_root.iterdir()) == ["images", "test.csv", "train.csv"]
    manifest = json.loads((probe_root.parent / "world.json").read_text())
    assert manifest["counts"]["attribute_probe"] == {"train_pairs": 135, "test_pairs": 135, "images": 540}
    for split in SPLITS:
        assert (probe_root / f"{split}.csv").read_text().splitlines()[0] == "image,pattern,label,pair"
        rows = read_rows(probe_root, split)
        assert [r["image"] for r in rows] == [f"images/{split}/{k:06d}.png" for k in range(270)]
        assert Counter(r["pattern"] for r in rows) == {pattern: 30 for pattern in PATTERNS}
        with Image.open(probe_root / rows[0]["image"]) as image:
            assert image.size == (SIZE, SIZE) and image.format == "PNG"


@pytest.mark.parametrize("split", SPLITS)
def test_labels_follow_from_the_scenes(probe_root, split):
    context = ExportContext(seed=SEED, n=N, config=CONFIG)
    rows = read_rows(probe_root, split)
    seen = {pattern: set() for pattern in PATTERNS}
    for index, pair in enumerate(split_pairs(context, split)):
        for row, scene in zip(rows[2 * index:2 * index + 2], (pair.scene_a, pair.scene_b)):
            assert row["pattern"] == pair.pattern and int(row["pair"]) == index
            assert row["label"] == label_from_scene(pair.pattern, scene), (row, pair.statement_a, pair.statement_b)
            seen[pair.pattern].add(row["label"])
        if index % 9 == 0:  # the file is this scene, pixel for pixel (PNG is lossless)
            with Image.open(probe_root / rows[2 * index]["image"]) as image:
                assert np.array_equal(np.asarray(image.convert("RGB")), context.render(pair.scene_a))
    assert all(len(labels) >= 2 for labels in seen.values()), seen
    assert seen["Presence"] == {"present", "absent"} and seen["Spatial"] == {"left", "right"}


def test_the_two_images_of_a_pair_differ_in_label_and_share_a_split(probe_root):
    digests = {}
    for split in SPLITS:
        rows = read_rows(probe_root, split)
        for a, b in zip(rows[::2], rows[1::2]):
            assert a["pair"] == b["pair"] and a["pattern"] == b["pattern"] and a["label"] != b["label"]
        assert Counter(r["pair"] for r in rows) == {str(k): 2 for k in range(len(rows) // 2)}
        digests[split] = {hashlib.sha256((probe_root / r["image"]).read_bytes()).hexdigest() for r in rows}
    assert not digests["train"] & digests["test"]  # no scene of a test pair was seen in training


def test_same_seed_is_byte_identical_and_another_differs(probe_root, tmp_path):
    generate_world(tmp_path / "again", seed=SEED, n=N, size=SIZE, names=["attribute_probe"])
    assert tree_digest(tmp_path / "again" / "attribute_probe") == tree_digest(probe_root)
    generate_world(tmp_path / "other", seed=SEED + 1, n=N, size=SIZE, names=["attribute_probe"])
    assert read_rows(tmp_path / "other" / "attribute_probe", "test") != read_rows(probe_root, "test")


# sha256 of the pair exports' text files for seed 7, n 12, recorded before Pair.values and this
# export existed: the pair builders must keep drawing exactly as before.
PAIR_EXPORT_DIGESTS = {
    "mmvp_vlm/Questions.csv": "b45520a61dd94285ea83ad0a34f290c0047a2b696dc131914fc898d978d22084",
    "mmvp/Questions.csv": "e7c3819337b86de749485ba29af5d540406b0353e26e1239d5be95ce0be74045",
    "naturalbench/naturalbench.jsonl": "dcb521425a8b08ae056dd448e6595e1bc5027ccfc8d5e808c7b66f90588b8643",
}


def test_the_other_pair_exports_are_unchanged(tmp_path):
    generate_world(tmp_path / "w", seed=SEED, n=N, size=SIZE, names=["mmvp_vlm", "mmvp", "naturalbench"])
    digests = {name: hashlib.sha256((tmp_path / "w" / name).read_bytes()).hexdigest() for name in PAIR_EXPORT_DIGESTS}
    assert digests == PAIR_EXPORT_DIGESTS
    generate_world(tmp_path / "with", seed=SEED, n=N, size=SIZE, names=["mmvp_vlm", "attribute_probe"])
    assert tree_digest(tmp_path / "with" / "mmvp_vlm") == tree_digest(tmp_path / "w" / "mmvp_vlm")


def test_generate_help_lists_the_export():
    from typer.testing import CliRunner

    from openeyes.world.cli import app

    result = CliRunner().invoke(app, ["generate", "--help"])
    assert result.exit_code == 0 and "attribute_probe" in result.output


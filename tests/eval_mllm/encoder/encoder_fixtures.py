"""Fixture writers: tiny benchmark folders in the real on-disk layouts (BENCHMARKS.md).

Images are small solid-colour PIL images with a marker, generated here; nothing is shipped.
"""
from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

from PIL import Image, ImageDraw

MMVP_TYPES = ["Orientation", "Presence", "State", "Quantity", "Spatial", "Color",
              "Structural Character", "Text", "Camera Perspective"]
CLASSES = ["red square", "green circle", "blue bar", "yellow dot", "white cross", "black ring"]
COLORS = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (230, 220, 40), (250, 250, 250), (10, 10, 10)]


def make_image(color: tuple[int, int, int], variant: int = 0, size: int = 32) -> Image.Image:
    image = Image.new("RGB", (size, size), color)
    draw = ImageDraw.Draw(image)
    offset = (variant * 5) % (size - 8)
    draw.rectangle([offset, offset, offset + 6, offset + 6], fill=(128, 128, 128))
    return image


def image_bytes(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write_mmvp_vlm(root: Path, pairs_per_type: int = 15, types=MMVP_TYPES) -> Path:
    """Questions.csv + 'MLLM_VLM Images/<Type>/<qid>.jpg', pairs (odd, even) in type blocks."""
    rows, qid = [], 1
    for t_index, qtype in enumerate(types):
        for k in range(pairs_per_type):
            for side in range(2):
                color = COLORS[(t_index + side) % len(COLORS)]
                path = root / "MLLM_VLM Images" / qtype / f"{qid}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                make_image(color, k + side).save(path, format="JPEG")
                rows.append([qid, qtype, f"the {qtype.lower()} statement {k} side {side}"])
                qid += 1
    with open(root / "Questions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Question ID", "Type", "Statement"])
        writer.writerows(rows)
    return root


def write_class_files(root: Path, classes=CLASSES) -> None:
    (root / "classnames.txt").write_text("\n".join(classes) + "\n")
    (root / "zeroshot_classification_templates.txt").write_text("a photo of a {c}.\na drawing of the {c}.\n")


def write_imagefolder(root: Path, classes=CLASSES, per_class: int = 3, split: str = "test") -> Path:
    """<root>/<split>/<class_dir>/*.png + classnames.txt + templates; class dirs sort like classes."""
    for index, _ in enumerate(classes):
        folder = root / split / f"{index:02d}_class"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            make_image(COLORS[index % len(COLORS)], k).save(folder / f"{k}.png")
    write_class_files(root, classes)
    return root


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def write_wds_classification(root: Path, classes=CLASSES, per_class: int = 2, shards: int = 2) -> Path:
    """<root>/test/{nshards.txt, 0.tar, 1.tar} with <key>.webp/.png + <key>.cls."""
    samples = [(i, k) for i in range(len(classes)) for k in range(per_class)]
    per_shard = -(-len(samples) // shards)
    for shard in range(shards):
        members = []
        for label, k in samples[shard * per_shard:(shard + 1) * per_shard]:
            key = f"s{label:02d}{k:03d}"
            fmt, ext = ("WEBP", "webp") if k % 2 else ("PNG", "png")
            members.append((f"{key}.{ext}", image_bytes(make_image(COLORS[label % len(COLORS)], k), fmt)))
            members.append((f"{key}.cls", f"{label}\n".encode()))
        write_tar(root / "test" / f"{shard}.tar", members)
    (root / "test" / "nshards.txt").write_text(f"{shards}\n")
    write_class_files(root, classes)
    return root


RETRIEVAL_CAPTIONS = [
    ["a red square", "red block"],
    ["a green circle", "green disk", "a round green thing"],
    ["a blue bar"],
    ["a yellow dot", "yellow spot"],
]


def write_flickr(root: Path, captions=RETRIEVAL_CAPTIONS) -> Path:
    """flickr30k_test_karpathy.txt (header + '<img>.jpg,<caption>') + flickr30k-images/."""
    lines = ["image,caption"]
    for index, caps in enumerate(captions):
        name = f"{1000 + index}.jpg"
        path = root / "flickr30k-images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make_image(COLORS[index % len(COLORS)], index).save(path, format="JPEG")
        lines += [f"{name},{c}" for c in caps]
    (root / "flickr30k_test_karpathy.txt").write_text("\n".join(lines) + "\n")
    return root


def write_coco(root: Path, captions=RETRIEVAL_CAPTIONS) -> Path:
    """coco_test_karpathy.json in COCO captions format + val2014/ images (ids listed out of order)."""
    images, annotations = [], []
    ids = [30 + 10 * i for i in range(len(captions))]
    for index, (image_id, caps) in enumerate(zip(ids, captions)):
        name = f"COCO_val2014_{image_id:012d}.jpg"
        path = root / "val2014" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make_image(COLORS[index % len(COLORS)], index).save(path, format="JPEG")
        images.append({"id": image_id, "file_name": name})
        annotations += [{"id": len(annotations), "image_id": image_id, "caption": c} for c in caps]
    payload = {"images": list(reversed(images)), "annotations": annotations}
    (root / "coco_test_karpathy.json").write_text(json.dumps(payload))
    return root


def write_wds_retrieval(root: Path, captions=RETRIEVAL_CAPTIONS) -> Path:
    members = []
    for index, caps in enumerate(captions):
        key = f"{index:05d}"
        members.append((f"{key}.jpg", image_bytes(make_image(COLORS[index % len(COLORS)], index), "JPEG")))
        members.append((f"{key}.txt", "\n".join(caps).encode()))
    write_tar(root / "test" / "0.tar", members)
    (root / "test" / "nshards.txt").write_text("1")
    (root / "dataset_type.txt").write_text("retrieval\n")
    return root


def write_naturalbench_retrieval(root: Path, groups: int = 3) -> Path:
    entries = []
    for g in range(groups):
        for side in range(2):
            path = root / "images" / f"{g}_{side}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            make_image(COLORS[(g + side) % len(COLORS)], side).save(path, format="JPEG")
        entries.append({"index": g, "image_0": f"{g}_0.jpg", "image_1": f"{g}_1.jpg",
                        "caption_0": f"group {g} first", "caption_1": f"group {g} second"})
    (root / "metadata.json").write_text(json.dumps(entries))
    return root


PROBE_LABELS = {"Spatial": ("left", "right"), "Presence": ("present", "absent")}


def write_attribute_probe(root: Path, pairs_per_pattern: int = 3, labels=PROBE_LABELS) -> Path:
    """train.csv + test.csv (image,pattern,label,pair) + images/<split>/<row>.png, two rows per pair."""
    for split in ("train", "test"):
        lines, row = ["image,pattern,label,pair"], 0
        for t_index, (pattern, values) in enumerate(labels.items()):
            for k in range(pairs_per_pattern):
                pair = t_index * pairs_per_pattern + k
                for side, label in enumerate(values):
                    name = f"images/{split}/{row:06d}.png"
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    make_image(COLORS[(t_index + side) % len(COLORS)], k + 3 * side).save(root / name)
                    lines.append(f"{name},{pattern},{label},{pair}")
                    row += 1
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root

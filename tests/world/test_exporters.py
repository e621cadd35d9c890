"""Exports: official layouts (BENCHMARKS.md), POPE negative rules, answers that follow from
the scenes, and byte-identical output for the same seed."""
import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from openeyes.world.config import WorldConfig
from openeyes.world.exporters import EXPORTERS
from openeyes.world.exporters.common import ExportContext, pair_stream
from openeyes.world.exporters.cv_bench import BUILDERS as CV_BUILDERS
from openeyes.world.exporters.pope import statistics
from openeyes.world.generate import generate_world
from openeyes.world.pairs import PATTERNS
from openeyes.world.scene import place, plane_distance, scene_diff
from openeyes.world.vocab import NOUNS, PLURALS

N = 12
MMVP_VLM_TYPES = ["Orientation", "Presence", "State", "Quantity", "Spatial", "Color",
                  "Structural Character", "Text", "Camera Perspective"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "out"
    generate_world(out, seed=7, n=N, size=64)
    return out


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_seed_is_byte_identical_and_another_seed_differs(world, tmp_path):
    again = tmp_path / "again"
    generate_world(again, seed=7, n=N, size=64)
    assert tree_digest(world) == tree_digest(again)
    other = tmp_path / "other"
    generate_world(other, seed=8, n=N, size=64, names=["mmvp_vlm", "pope"])
    first, second = tree_digest(world), tree_digest(other)
    shared = [k for k in second if k in first and k != "world.json"]
    assert shared and sum(first[k] != second[k] for k in shared) > 0.9 * len(shared)


def test_manifest_and_no_leftovers(world):
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["seed"] == 7 and manifest["n"] == N and manifest["size"] == 64
    assert manifest["exports"] == list(EXPORTERS) and set(manifest["counts"]) == set(EXPORTERS)
    assert manifest["config"]["image_size"] == 64
    assert sorted(p.name for p in world.iterdir()) == sorted(list(EXPORTERS) + ["world.json"])
    assert not [p for p in world.parent.iterdir() if p.name.startswith(".")]


def test_mmvp_vlm_layout_and_pairs(world):
    root = world / "mmvp_vlm"
    with open(root / "Questions.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Question ID", "Type", "Statement"]
    rows = rows[1:]
    assert len(rows) == 270 and [int(r[0]) for r in rows] == list(range(1, 271))
    assert sorted(p.name for p in (root / "MLLM_VLM Images").iterdir()) == sorted(MMVP_VLM_TYPES)
    for pair_index in range(135):
        first, second = rows[2 * pair_index], rows[2 * pair_index + 1]
        assert first[1] == second[1] == MMVP_VLM_TYPES[pair_index // 15]
        for row in (first, second):
            assert (root / "MLLM_VLM Images" / row[1] / f"{row[0]}.jpg").is_file()
    # The exported statements are those of the pair stream; each pair differs in one attribute.
    context = ExportContext(seed=7, n=N, config=WorldConfig())
    for index, pair in enumerate(pair_stream(context, "mmvp_vlm")):
        assert [rows[2 * index][2], rows[2 * index + 1][2]] == [pair.statement_a, pair.statement_b]
        assert len(scene_diff(pair.scene_a, pair.scene_b)) == 1
        a = (root / "MLLM_VLM Images" / pair.pattern / f"{2 * index + 1}.jpg").read_bytes()
        b = (root / "MLLM_VLM Images" / pair.pattern / f"{2 * index + 2}.jpg").read_bytes()
        assert a != b


def test_mmvp_layout_pairs_share_the_question_with_opposite_answers(world):
    with open(world / "mmvp" / "Questions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["Index", "Question", "Options", "Correct Answer"]
    assert [int(r["Index"]) for r in rows] == list(range(1, 271))
    for a, b in zip(rows[::2], rows[1::2]):
        assert a["Question"] == b["Question"] and a["Options"] == b["Options"]
        assert a["Options"].startswith("(a) ") and " (b) " in a["Options"]
        assert {a["Correct Answer"], b["Correct Answer"]} == {"(a)", "(b)"}
    for r in rows:
        assert (world / "mmvp" / "MMVP Images" / f"{r['Index']}.jpg").is_file()


def test_pope_layout_and_negative_rules(world):
    root = world / "pope"
    files = {s: read_jsonl(root / f"coco_pope_{s}.json") for s in ("random", "popular", "adversarial")}
    images = sorted({row["image"] for row in files["random"]})
    assert len(images) == N and all(name.startswith("COCO_val2014_") and len(name) == len("COCO_val2014_") + 16
                                    for name in images)
    assert all((root / "images" / name).is_file() for name in images)
    # Reconstruct each image's present categories from the yes answers and the scenes' stream.
    from openeyes.world.sampling import sample_scene
    context = ExportContext(seed=7, n=N, config=WorldConfig())
    present = []
    for index in range(N):
        rng = context.rng("pope", index)
        scene = sample_scene(rng, context.config, n_objects=int(rng.integers(3, 5)), min_distinct=3)
        present.append(sorted({o.noun for o in scene.objects}))
    frequency, cooccurrence = statistics(present)
    noun_of = {f"Is there {'an' if n[0] in 'aeiou' else 'a'} {n} in the image?": n for n in NOUNS}
    for setting, rows in files.items():
        assert list(rows[0]) == ["question_id", "image", "text", "label"]
        assert [r["question_id"] for r in rows] == list(range(1, 6 * N + 1))
        assert all("imange" not in r["text"] and r["text"] in noun_of for r in rows)
        for index, name in enumerate(images):
            block = [r for r in rows if r["image"] == name]
            assert [r["label"] for r in block] == ["yes", "no"] * 3
            yes = [noun_of[r["text"]] for r in block if r["label"] == "yes"]
            no = [noun_of[r["text"]] for r in block if r["label"] == "no"]
            assert set(yes) <= set(present[index]) and not set(no) & set(present[index]) and len(set(no)) == 3
            absent = [c for c in NOUNS if c not in present[index]]
            if setting == "popular":
                assert no == sorted(absent, key=lambda c: (-frequency[c], c))[:3]
            if setting == "adversarial":
                score = {c: sum(cooccurrence[p][c] for p in present[index]) for c in absent}
                assert no == sorted(absent, key=lambda c: (-score[c], c))[:3]
                assert min(score[c] for c in no) >= max(score[c] for c in absent if c not in no)
    assert [r["text"] for r in files["random"] if r["label"] == "yes"] == \
        [r["text"] for r in files["adversarial"] if r["label"] == "yes"]
    from openeyes.world.exporters.pope import question
    assert question("arrow") == "Is there an arrow in the image?" and question("star") == "Is there a star in the image?"


def test_cv_bench_layout(world):
    root = world / "cv_bench"
    fields = ["idx", "type", "task", "image", "question", "choices", "answer", "prompt", "filename", "source",
              "source_dataset", "source_filename", "target_class", "target_size", "bbox"]
    sources = Counter()
    for kind, tasks in (("2d", {"Count", "Relation"}), ("3d", {"Depth", "Distance"})):
        rows = read_jsonl(root / f"test_{kind}.jsonl")
        assert len(rows) == 2 * N and {r["task"] for r in rows} == tasks
        for r in rows:
            assert list(r) == fields and r["type"] == kind.upper()
            assert r["answer"] in [f"({'ABCD'[k]})" for k in range(len(r["choices"]))]
            expected = r["question"] + " Select from the following choices.\n" + "\n".join(
                f"({'ABCD'[k]}) {c}" for k, c in enumerate(r["choices"]))
            assert r["prompt"] == expected
            assert r["filename"].startswith(f"img/{kind.upper()}/{r['task'].lower()}/") and (root / r["filename"]).is_file()
            sources[r["source"]] += 1
            assert (r["target_class"] is not None) == (r["source"] == "COCO")
            assert (r["bbox"] is not None) == (r["source"] == "Omni3D")
    assert set(sources) == {"ADE20K", "COCO", "Omni3D"}


def test_cv_bench_answers_follow_from_the_scene():
    context = ExportContext(seed=3, n=4, config=WorldConfig())
    for task, build in CV_BUILDERS.items():
        for k in range(10):
            scene, question, choices, answer, target, boxed = build(context.rng(f"check_{task}", k), context)
            truth = choices[answer]
            if task == "Count":
                assert int(truth) == sum(o.noun == target.noun for o in scene.objects)
                assert target.plural in question
            elif task == "Relation":
                a, b = (place(o, scene.camera, context.config) for o in boxed)
                expected = {"left": a.cx < b.cx, "right": a.cx > b.cx, "above": a.cy < b.cy, "below": a.cy > b.cy}
                assert expected[truth]
            elif task == "Depth":
                nearer = min(boxed, key=lambda o: o.z)
                assert truth == f"{nearer.color} {nearer.noun}" + (f" {nearer.glyph}" if nearer.glyph else "")
            else:
                ref, a, b = boxed
                nearer = a if plane_distance(ref, a) < plane_distance(ref, b) else b
                assert truth.startswith(f"{nearer.color} {nearer.noun}")


def test_cv_bench_gold_letter_is_not_predictable_from_position():
    """No task puts its gold on one letter (the scene's back-to-front object order once did in 3D)."""
    context = ExportContext(seed=5, n=4, config=WorldConfig())
    for task, build in CV_BUILDERS.items():
        letters = Counter()
        for k in range(200):
            _, _, choices, answer, _, _ = build(context.rng(f"balance_{task}", k), context)
            letters[(answer, len(choices))] += 1
        for (index, options), count in letters.items():
            assert abs(count / 200 - 1 / options) < 0.12, (task, index, count)


def test_naturalbench_layout_and_gold_pattern(world):
    rows = read_jsonl(world / "naturalbench" / "naturalbench.jsonl")
    columns = ["Index", "Image_0", "Image_1", "Question_0", "Image_0_Question_0", "Image_1_Question_0",
               "Question_1", "Image_0_Question_1", "Image_1_Question_1", "Question_Type", "Source"]
    assert len(rows) == 270 and {r["Question_Type"] for r in rows} == {"yes_no", "multiple_choice"}
    for r in rows:
        assert list(r) == columns
        gold = [r["Image_0_Question_0"], r["Image_1_Question_0"], r["Image_0_Question_1"], r["Image_1_Question_1"]]
        assert gold == (["Yes", "No", "No", "Yes"] if r["Question_Type"] == "yes_no" else ["A", "B", "B", "A"])
        if r["Question_Type"] == "multiple_choice":
            assert "\nOption: A:" in r["Question_0"] and r["Question_0"].endswith(";")
        assert (world / "naturalbench" / r["Image_0"]).is_file() and (world / "naturalbench" / r["Image_1"]).is_file()


def test_llava_sets_layout(world):
    pretrain = json.loads((world / "llava_pretrain" / "blip_laion_cc_sbu_558k.json").read_text())
    instruct = json.loads((world / "llava_instruct" / "llava_v1_5_mix665k.json").read_text())
    assert len(pretrain) == len(instruct) == N
    for record, root in [(r, "llava_pretrain") for r in pretrain] + [(r, "llava_instruct") for r in instruct]:
        assert list(record) == ["id", "image", "conversations"]
        assert (world / root / "images" / record["image"]).is_file()
        turns = record["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and turns
        assert turns[0]["value"].startswith("<image>\n")
        assert sum("<image>" in t["value"] for t in turns) == 1
    assert max(len(r["conversations"]) for r in instruct) >= 4


def test_scene_text_rows_carry_a_caption_and_answers_it_supports(world):
    rows = json.loads((world / "scene_text" / "scene_text.json").read_text())
    assert len(rows) == N and all(list(row) == ["id", "conversations"] for row in rows)
    existence = 0
    for row in rows:
        turns = row["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and len(turns) >= 4
        assert not any("<image>" in t["value"] for t in turns)
        caption, first_question = turns[0]["value"].split("\n", 1)
        assert caption.endswith(".") and first_question
        words = caption.rstrip(".").replace(",", "").split()
        for question, answer in zip(turns[::2], turns[1::2]):
            head = question["value"].split("\n")[-2 if question is turns[0] else 0]
            for noun in NOUNS:  # a bare "Is there a <noun>" is answered by the caption's nouns
                if head in (f"Is there a {noun} in the image?", f"Is there an {noun} in the image?"):
                    existence += 1
                    present = noun in words or PLURALS[noun] in words
                    assert answer["value"] == ("Yes" if present else "No"), (caption, head, answer)
    assert existence > 0


def test_classification_and_retrieval_layouts(world):
    root = world / "classification"
    names = (root / "classnames.txt").read_text().splitlines()
    templates = (root / "zeroshot_classification_templates.txt").read_text().splitlines()
    assert all("{c}" in t for t in templates)
    folders = sorted(p.name for p in (root / "test").iterdir())
    assert len(folders) == len(names) and [f.split("_", 1)[1].replace("_", " ") for f in folders] == names
    lines = (world / "retrieval" / "flickr30k_test_karpathy.txt").read_text().splitlines()
    body = [line.split(".jpg,", 1) for line in lines[1:]]
    per_image = Counter(img for img, _ in body)
    assert len(per_image) == N and set(per_image.values()) == {5}
    assert all((world / "retrieval" / "flickr30k-images" / f"{img}.jpg").is_file() for img in per_image)


def test_every_pattern_is_exported():
    assert PATTERNS == MMVP_VLM_TYPES

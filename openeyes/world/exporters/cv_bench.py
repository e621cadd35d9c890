"""CV-Bench: ``test_2d.jsonl`` / ``test_3d.jsonl`` + ``img/{2D,3D}/<task>/<name>.png``.

2D items (Count, Relation) alternate ``source`` ADE20K / COCO and 3D items (Depth, Distance)
are ``Omni3D``, so the Cambrian formula ½·((ADE + COCO)/2 + Omni) applies. Every row carries
every field of BENCHMARKS.md §3 (null where it does not apply). Answers are read from the
scene: counts from its objects, relations from projected screen positions, depth from plane
z, distance from plane (x, z).
"""
from __future__ import annotations

from pathlib import Path


from openeyes.world.exporters.common import ExportContext, save_image, write_jsonl
from openeyes.world.sampling import (
    choice, place_objects, sample_background, sample_camera, sample_object, sample_scene, sample_theme,
)
from openeyes.world.scene import Scene, WorldObject, place, plane_distance
from openeyes.world.vocab import GLYPH_SHAPES, SHAPES

LETTERS = "ABCDEF"
TASKS_2D = ("Count", "Relation")
TASKS_3D = ("Depth", "Distance")
SOURCES_2D = ("ADE20K", "COCO")


def name(obj: WorldObject) -> str:
    return f"{obj.color} {obj.noun}" + (f" {obj.glyph}" if obj.glyph else "")


def prompt(question: str, choices: list[str]) -> str:
    lines = "\n".join(f"({LETTERS[k]}) {c}" for k, c in enumerate(choices))
    return f"{question} Select from the following choices.\n{lines}"


def pixel_box(obj: WorldObject, scene: Scene, context: ExportContext) -> list[int]:
    p, s = place(obj, scene.camera, context.config), context.config.image_size
    return [round(max(0.0, p.cx - p.radius) * s), round(max(0.0, p.cy - p.radius) * s),
            round(min(1.0, p.cx + p.radius) * s), round(min(1.0, p.cy + p.radius) * s)]


def count_item(rng, context):
    config = context.config
    objects: list[WorldObject] = []
    while not objects:
        scene, objects = _count_scene(rng, config)
    target = objects[0]
    count = sum(o.noun == target.noun for o in objects)
    wrong = [k for k in range(0, 7) if k != count]
    options = [count] + [wrong[int(k)] for k in rng.choice(len(wrong), size=3, replace=False)]
    choices = [str(options[int(k)]) for k in rng.permutation(4)]
    question = f"How many {target.plural} are in the image?"
    return scene, question, choices, choices.index(str(count)), target, [target]


def _count_scene(rng, config):
    """Up to four copies of one category plus up to two others, barely overlapping."""
    theme, camera = sample_theme(rng), sample_camera(rng, config)
    shape = choice(rng, [s for s in SHAPES if s not in GLYPH_SHAPES and s != "hexagon"])
    drafts = [sample_object(rng, config, theme, shape=shape, size="small") for _ in range(int(rng.integers(1, 5)))]
    others = [s for s in SHAPES if s not in (shape, "hexagon")]
    drafts += [sample_object(rng, config, theme, shape=choice(rng, others), size="small")
               for _ in range(int(rng.integers(0, 3)))]
    objects = place_objects(rng, drafts, camera, config, max_overlap=0.05)
    return Scene(tuple(objects), camera, sample_background(rng, theme), theme), objects


def relation_item(rng, context):
    config = context.config
    while True:
        scene = sample_scene(rng, config, n_objects=int(rng.integers(2, 4)), unique_names=True)
        a, b = scene.objects[0], scene.objects[1]
        pa, pb = place(a, scene.camera, config), place(b, scene.camera, config)
        dx, dy = pa.cx - pb.cx, pa.cy - pb.cy
        if abs(dx) >= config.relation_margin and abs(dx) >= abs(dy):
            choices, truth = ["left", "right"], "left" if dx < 0 else "right"
        elif abs(dy) >= config.relation_margin:
            choices, truth = ["above", "below"], "above" if dy < 0 else "below"
        else:
            continue
        if rng.random() < 0.5:
            choices = choices[::-1]
        question = (f"Considering the relative positions of the {name(a)} and the {name(b)} in the image provided, "
                    f"where is the {name(a)} located with respect to the {name(b)}?")
        return scene, question, choices, choices.index(truth), a, [a, b]


def depth_item(rng, context):
    config = context.config
    while True:
        scene = sample_scene(rng, config, n_objects=int(rng.integers(2, 4)), unique_names=True)
        a, b = (scene.objects[k] for k in rng.permutation(2))  # placement order is back to front
        if abs(a.z - b.z) < config.depth_margin:
            continue
        choices = [name(a), name(b)]
        question = f"Which object is closer to the camera taking this photo, the {name(a)} or the {name(b)}?"
        return scene, question, choices, 0 if a.z < b.z else 1, a, [a, b]


def distance_item(rng, context):
    config = context.config
    while True:
        scene = sample_scene(rng, config, n_objects=3, unique_names=True)
        ref, a, b = (scene.objects[k] for k in rng.permutation(3))  # placement order is back to front
        da, db = plane_distance(ref, a), plane_distance(ref, b)
        if abs(da - db) < config.depth_margin:
            continue
        choices = [name(a), name(b)]
        question = (f"Estimate the real-world distances between objects in this image. "
                    f"Which object is closer to the {name(ref)}, the {name(a)} or the {name(b)}?")
        return scene, question, choices, 0 if da < db else 1, ref, [ref, a, b]


BUILDERS = {"Count": count_item, "Relation": relation_item, "Depth": depth_item, "Distance": distance_item}


def export(folder: Path, context: ExportContext) -> dict:
    """Both files; ``idx`` numbers the items once over 2D then 3D (unique in the whole benchmark, as in CV-Bench)."""
    counts = {}
    next_idx = 0
    for kind, tasks in (("2D", TASKS_2D), ("3D", TASKS_3D)):
        rows = []
        for task in tasks:
            for k in range(context.n):
                rng = context.rng(f"cv_bench_{task}", k)
                scene, question, choices, answer, target, boxed = BUILDERS[task](rng, context)
                source = SOURCES_2D[k % 2] if kind == "2D" else "Omni3D"
                filename = f"img/{kind}/{task.lower()}/{source.lower()}_{k}.png"
                save_image(context.render(scene), folder / filename, context.config)
                box = pixel_box(target, scene, context)
                rows.append({
                    "idx": next_idx, "type": kind, "task": task, "image": filename,
                    "question": question, "choices": choices, "answer": f"({LETTERS[answer]})",
                    "prompt": prompt(question, choices), "filename": filename, "source": source,
                    "source_dataset": "openeyes-world", "source_filename": f"world_{context.split}_{task.lower()}_{k}.png",
                    "target_class": target.noun if source == "COCO" else None,
                    "target_size": int((box[2] - box[0]) * (box[3] - box[1])) if source == "COCO" else None,
                    "bbox": [pixel_box(o, scene, context) for o in boxed] if source == "Omni3D" else None,
                })
                next_idx += 1
        write_jsonl(folder / f"test_{kind.lower()}.jsonl", rows)
        counts[f"test_{kind.lower()}"] = len(rows)
    return counts



"""POPE: ``coco_pope_{random,popular,adversarial}.json`` (JSONL) + ``images/COCO_val2014_%012d.jpg``.

Per image: three present categories ("yes") alternating with three absent ones ("no"),
negatives chosen by the POPE rules over this image set:
- random: uniform over the absent categories;
- popular: the absent categories most frequent in the set (ties by name);
- adversarial: the absent categories that co-occur most with the image's present ones, the
  co-occurrence counted over the set (ties by name).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from openeyes.world.exporters.common import ExportContext, save_image, write_jsonl
from openeyes.world.sampling import sample_scene
from openeyes.world.vocab import NOUNS, with_article

SETTINGS = ("random", "popular", "adversarial")
TEMPLATE = "Is there {} in the image?"
QUESTIONS_PER_SIDE = 3


def image_name(index: int) -> str:
    return f"COCO_val2014_{index + 1:012d}.jpg"


def question(noun: str) -> str:
    return TEMPLATE.format(with_article(noun))


def statistics(present: list[list[str]]) -> tuple[Counter, dict[str, Counter]]:
    """Frequency of each category (images containing it) and pairwise co-occurrence counts."""
    frequency: Counter = Counter()
    cooccurrence: dict[str, Counter] = {noun: Counter() for noun in NOUNS}
    for nouns in present:
        frequency.update(nouns)
        for a in nouns:
            cooccurrence[a].update(b for b in nouns if b != a)
    return frequency, cooccurrence


def negatives(setting: str, present: list[str], frequency: Counter, cooccurrence: dict[str, Counter], rng) -> list[str]:
    absent = [noun for noun in NOUNS if noun not in present]
    if setting == "random":
        return [absent[int(k)] for k in rng.choice(len(absent), size=QUESTIONS_PER_SIDE, replace=False)]
    if setting == "popular":
        ranked = sorted(absent, key=lambda c: (-frequency[c], c))
    else:
        ranked = sorted(absent, key=lambda c: (-sum(cooccurrence[p][c] for p in present), c))
    return ranked[:QUESTIONS_PER_SIDE]


def export(folder: Path, context: ExportContext) -> dict:
    present = []
    for index in range(context.n):
        rng = context.rng("pope", index)
        scene = sample_scene(rng, context.config, n_objects=int(rng.integers(3, 5)), min_distinct=3)
        save_image(context.render(scene), folder / "images" / image_name(index), context.config)
        present.append(sorted({o.noun for o in scene.objects}))
    frequency, cooccurrence = statistics(present)
    counts = {"images": context.n}
    for setting in SETTINGS:
        rows = []
        for index, nouns in enumerate(present):
            truth_rng = context.rng("pope_truths", index)  # the same "yes" questions in every setting
            truths = [nouns[int(k)] for k in truth_rng.choice(len(nouns), size=QUESTIONS_PER_SIDE, replace=False)]
            rng = context.rng(f"pope_{setting}", index)
            negative = negatives(setting, nouns, frequency, cooccurrence, rng)
            for yes, no in zip(truths, negative):
                for noun, label in ((yes, "yes"), (no, "no")):
                    rows.append({"question_id": len(rows) + 1, "image": image_name(index),
                                 "text": question(noun), "label": label})
        write_jsonl(folder / f"coco_pope_{setting}.json", rows)
        counts[setting] = len(rows)
    return counts

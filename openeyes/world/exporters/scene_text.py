"""Text stand-in for images: scene captions followed by questions, for pretraining a text LM.

LLaVA conversation JSON without images (``scene_text.json``): the first human turn opens with a
true caption of the scene where an image row has ``<image>``, then questions that the caption
answers (existence, counting, colour, multiple choice, colour-noun yes/no) and, now and then, a
request to describe the image answered by another true caption. A language model trained on it
learns to answer world questions from a description in its context, the skill an MLLM needs
once image tokens take the caption's place (the tiny LM of the zoo is pretrained on it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from openeyes.world.captions import caption
from openeyes.world.config import WorldConfig
from openeyes.world.exporters.common import ExportContext, write_json
from openeyes.world.exporters.llava_pretrain import REQUESTS
from openeyes.world.questions import GENERATORS
from openeyes.world.sampling import sample_scene
from openeyes.world.scene import Scene

JSON_NAME = "scene_text.json"
# Questions a caption answers: every caption names each object's colour and noun with counts.
DESCRIBABLE = ("existence", "counting", "color", "multiple_choice", "yes_no")
DESCRIBE_PROBABILITY = 0.3  # share of rows with a describe-the-image turn


def turns(scene: Scene, rng: np.random.Generator, config: WorldConfig, count: int) -> list[tuple[str, str]]:
    """Up to ``count`` distinct (question, answer) pairs drawn among the describable generators."""
    chosen = []
    for _ in range(4 * count):
        qa = GENERATORS[DESCRIBABLE[int(rng.integers(len(DESCRIBABLE)))]](scene, rng, config)
        if qa is not None and qa[0] not in [question for question, _ in chosen]:
            chosen.append(qa)
        if len(chosen) == count:
            break
    if rng.random() < DESCRIBE_PROBABILITY:
        position = int(rng.integers(len(chosen) + 1))
        chosen.insert(position, (REQUESTS[int(rng.integers(len(REQUESTS)))], caption(scene, rng, config)))
    return chosen


def export(folder: Path, context: ExportContext) -> dict:
    records, total = [], 0
    for index in range(context.n):
        rng = context.rng("scene_text", index)
        scene = sample_scene(rng, context.config)
        description = caption(scene, rng, context.config)
        pairs = turns(scene, rng, context.config, int(rng.integers(2, 6)))
        messages = []
        for number, (question, answer) in enumerate(pairs):
            messages.append({"from": "human", "value": (f"{description}\n" if number == 0 else "") + question})
            messages.append({"from": "gpt", "value": answer})
        records.append({"id": f"{index:09d}", "conversations": messages})
        total += len(pairs)
    write_json(folder / JSON_NAME, records)
    return {"records": len(records), "turns": total}

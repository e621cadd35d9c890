"""Captions from a scene description: several templates, varying attribute order, counts
aggregated ("two small green triangles to the left of a red ring").

Only the description is read; the generator passed in chooses among true phrasings.
"""
from __future__ import annotations

import numpy as np

from openeyes.world.config import WorldConfig
from openeyes.world.scene import Scene, WorldObject, place
from openeyes.world.vocab import number_word, with_article

ORIENTATION_WORDS = {"arrow": "pointing {}", "triangle": "pointing {}", "moon": "facing {}"}
VARIANT_WORDS = {"5": "five-pointed", "6": "six-pointed"}
MARK_WORDS = {"dot": "with a dot", "stripe": "with a stripe"}
BACKGROUND_WORDS = {"plain": "plain", "gradient": "gradient", "noisy": "textured"}


def attribute_words(obj: WorldObject, keys: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Words before the noun and phrases after it, for the chosen attribute ``keys`` in order."""
    before, after = [], []
    for key in keys:
        if key == "size":
            before.append(obj.size)
        elif key == "color":
            before.append(obj.color)
        elif key == "fill" and obj.fill:
            before.append(obj.fill)
        elif key == "variant" and obj.shape == "star" and obj.variant:
            before.append(VARIANT_WORDS[obj.variant])
        elif key == "mark" and obj.mark:
            after.append(MARK_WORDS[obj.mark])
        elif key == "orientation" and obj.orientation:
            after.append(ORIENTATION_WORDS[obj.shape].format(obj.orientation))
    return before, after


def noun_phrase(obj: WorldObject, keys: tuple[str, ...], count: int = 1) -> str:
    """'a small red star', 'two outlined blue letters E', 'an arrow pointing left'."""
    before, after = attribute_words(obj, keys)
    noun = obj.noun if count == 1 else obj.plural
    if obj.glyph:
        noun = f"{noun} {obj.glyph}"
    core = " ".join(before + [noun] + after)
    return with_article(core) if count == 1 else f"{number_word(count)} {core}"


def the_phrase(obj: WorldObject) -> str:
    """'the red star': the name questions use when (colour, noun) is unique in the scene."""
    return f"the {obj.color} {obj.noun}" + (f" {obj.glyph}" if obj.glyph else "")


def groups(scene: Scene, keys: tuple[str, ...]) -> list[tuple[str, list[WorldObject]]]:
    """Objects grouped by their phrase under ``keys``, in first-appearance order."""
    found: dict[str, list[WorldObject]] = {}
    for obj in scene.objects:
        found.setdefault(noun_phrase(obj, keys), []).append(obj)
    return [(noun_phrase(objs[0], keys, len(objs)), objs) for objs in found.values()]


def relation(a: list[WorldObject], b: list[WorldObject], scene: Scene, config: WorldConfig) -> str | None:
    """A spatial relation that holds for every pair across the two groups, if any."""
    xa = [place(o, scene.camera, config).cx for o in a]
    xb = [place(o, scene.camera, config).cx for o in b]
    margin = config.relation_margin
    if max(xa) + margin < min(xb):
        return "to the left of"
    if min(xa) > max(xb) + margin:
        return "to the right of"
    if max(o.z for o in a) + config.depth_margin < min(o.z for o in b):
        return "in front of"
    if min(o.z for o in a) > max(o.z for o in b) + config.depth_margin:
        return "behind"
    return None


ATTRIBUTE_ORDERS = [
    ("size", "color", "fill", "variant", "orientation", "mark"),
    ("color", "size", "variant", "orientation"),
    ("fill", "color", "mark"),
    ("color",),
    ("size", "color"),
    ("color", "fill", "orientation", "variant"),
]
TEMPLATES = [
    "{objects}.",
    "a picture of {objects}.",
    "an image with {objects}.",
    "there {be} {objects}.",
    "{objects} on a {background} background.",
]


def join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def caption(scene: Scene, rng: np.random.Generator, config: WorldConfig) -> str:
    """One caption of the scene, drawn among the true phrasings by ``rng``."""
    keys = ATTRIBUTE_ORDERS[int(rng.integers(len(ATTRIBUTE_ORDERS)))]
    grouped = groups(scene, keys)
    order = [grouped[i] for i in rng.permutation(len(grouped))]
    if len(order) >= 2 and rng.random() < 0.6:
        rel = relation(order[0][1], order[1][1], scene, config)
        if rel is not None:
            text = f"{order[0][0]} {rel} {order[1][0]}"
            rest = [phrase for phrase, _ in order[2:]]
            return (text + (", and " + join(rest) if rest else "")) + "."
    phrases = [phrase for phrase, _ in order]
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    plural = len(scene.objects) > 1
    return template.format(objects=join(phrases), be="are" if plural else "is",
                           background=BACKGROUND_WORDS[scene.background.style])


FULL_KEYS = ATTRIBUTE_ORDERS[0]  # every attribute a caption can state


def full_caption(scene: Scene, config: WorldConfig) -> str:
    """The caption stating every attribute of every group (size, colour, fill, points, orientation,
    mark, glyph, count) and, when one holds, the relation of the first two groups; deterministic.

    The random ``caption`` states all attributes only in one phrasing of six; a prior whose
    condition must carry the fine detail is trained on this one (``openeyes.world.prior_text``).
    """
    grouped = groups(scene, FULL_KEYS)
    if len(grouped) >= 2:
        rel = relation(grouped[0][1], grouped[1][1], scene, config)
        if rel is not None:
            rest = [phrase for phrase, _ in grouped[2:]]
            return f"{grouped[0][0]} {rel} {grouped[1][0]}" + (", and " + join(rest) if rest else "") + "."
    return join([phrase for phrase, _ in grouped]) + "."

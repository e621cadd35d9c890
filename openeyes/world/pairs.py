"""MMVP-style image pairs that differ in exactly one attribute, one builder per pattern.

Each builder returns a ``Pair``: two scenes, a statement true of each (MMVP-VLM), one
question with the two answers (MMVP and NaturalBench multiple choice), a yes/no question
true of each image (NaturalBench), and the differing attribute's value on each image as a
plain class label (the attribute probe). Which value lands on image A is random, so no pattern
always puts "left" first. ``PATTERNS`` lists the nine MMVP-VLM ``Type`` names in row order.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from openeyes.world.config import WorldConfig
from openeyes.world.sampling import (
    choice, place_objects, sample_background, sample_object, sample_theme,
)
from openeyes.world.scene import Camera, Scene, WorldObject
from openeyes.world.vocab import (
    COLOR_NAMES, DOT_SHAPES, FILLABLE, GLYPH_SHAPES, NEAR_COLOR_PAIRS, SHAPES, number_word, with_article,
)

PATTERNS = ["Orientation", "Presence", "State", "Quantity", "Spatial", "Color",
            "Structural Character", "Text", "Camera Perspective"]
TEXT_PAIRS = [("E", "F"), ("P", "R"), ("8", "0"), ("3", "9"), ("5", "6"), ("1", "7"), ("L", "T")]
PLAIN_SHAPES = ("circle", "square", "star", "heart", "cross", "ring", "diamond", "hexagon")


@dataclass(frozen=True)
class Pair:
    pattern: str  # one of PATTERNS
    scene_a: Scene
    scene_b: Scene
    statement_a: str  # true of image A only
    statement_b: str
    question: str  # one question, answered differently on the two images
    answer_a: str  # option text that is correct for image A
    answer_b: str
    yes_no_a: str  # a yes/no question whose answer is "yes" for A and "no" for B
    yes_no_b: str
    values: tuple[str, str]  # the differing attribute on A and on B as class labels ("left", "3", "present")


def _quiet_camera(rng: np.random.Generator) -> Camera:
    return Camera(zoom=round(float(rng.uniform(0.96, 1.04)), 4), rotation=round(float(rng.uniform(-3, 3)), 3))


def _with_distractor(rng, config, theme, camera, objects: list[WorldObject], avoid: set[str]) -> list[WorldObject]:
    """Maybe add one small object whose noun is not in ``avoid`` (same in both images)."""
    if rng.random() < 0.5:
        return objects
    shape = choice(rng, [s for s in SHAPES if s not in avoid and s not in GLYPH_SHAPES])
    extra = sample_object(rng, config, theme, shape=shape, size="small")
    if extra.noun in avoid:
        extra = dataclasses.replace(extra, variant="6")
    return objects + place_objects(rng, [extra], camera, config, existing=objects, max_overlap=0.0)


def _scenes(rng, theme, camera, objects_a, objects_b) -> tuple[Scene, Scene]:
    background = sample_background(rng, theme)
    return (Scene(tuple(objects_a), camera, background, theme), Scene(tuple(objects_b), camera, background, theme))


def _swap(rng, a, b):
    return (a, b) if rng.random() < 0.5 else (b, a)


def _one_object_pair(rng, config, pattern, target: WorldObject, changed: dict, texts, values) -> Pair:
    """Scenes with ``target`` (plus a distractor) where B changes only ``changed`` on it."""
    theme, camera = sample_theme(rng), _quiet_camera(rng)
    target = place_objects(rng, [target], camera, config, x_range=(-0.35, 0.35), z_range=(0.1, 0.5))[0]
    objects = _with_distractor(rng, config, theme, camera, [target], {target.noun, dataclasses.replace(target, **changed).noun})
    other = [dataclasses.replace(objects[0], **changed)] + objects[1:]
    scene_a, scene_b = _scenes(rng, theme, camera, objects, other)
    return Pair(pattern, scene_a, scene_b, *texts, values=values)


def orientation_pair(rng, config: WorldConfig) -> Pair:
    shape, values = choice(rng, [("arrow", ("left", "right")), ("arrow", ("up", "down")),
                                 ("triangle", ("up", "down")), ("moon", ("left", "right"))])
    a, b = _swap(rng, *values)
    target = sample_object(rng, config, sample_theme(rng), shape=shape, size="large")
    target = dataclasses.replace(target, orientation=a, mark=None)
    verb = "facing" if shape == "moon" else "pointing"
    color = target.color
    question = f"Which way is the {shape} {verb}?"
    texts = (f"{with_article(color + ' ' + shape)} {verb} {a}", f"{with_article(color + ' ' + shape)} {verb} {b}",
             question, a.capitalize(), b.capitalize(),
             f"Is the {shape} {verb} {a}?", f"Is the {shape} {verb} {b}?")
    return _one_object_pair(rng, config, "Orientation", target, {"orientation": b}, texts, (a, b))


def presence_pair(rng, config: WorldConfig) -> Pair:
    shape = "ring" if rng.random() < 0.4 else choice(rng, [s for s in DOT_SHAPES if s not in ("arrow", "moon")])
    target = sample_object(rng, config, sample_theme(rng), shape=shape, size="large")
    with_mark, without = _swap(rng, "dot", None)
    target = dataclasses.replace(target, mark=with_mark)
    name = f"{target.color} {target.noun}"
    def says(mark):
        return f"{with_article(name)} with a dot in the middle" if mark else f"{with_article(name)} without a dot"
    def asks(mark):
        return f"Is there a dot inside the {target.noun}?" if mark else f"Is the {target.noun} without a dot?"
    yes_no = lambda mark: "Yes" if mark else "No"  # noqa: E731
    texts = (says(with_mark), says(without), f"Is there a dot inside the {target.noun}?",
             yes_no(with_mark), yes_no(without), asks(with_mark), asks(without))
    label = {"dot": "present", None: "absent"}
    return _one_object_pair(rng, config, "Presence", target, {"mark": without}, texts, (label[with_mark], label[without]))


def state_pair(rng, config: WorldConfig) -> Pair:
    shape = choice(rng, [s for s in FILLABLE if s != "circle"] + ["circle"])
    a, b = _swap(rng, "solid", "outlined")
    target = dataclasses.replace(sample_object(rng, config, sample_theme(rng), shape=shape, size="large"), fill=a, mark=None)
    noun = target.noun
    word = {"solid": "filled in", "outlined": "only outlined"}
    texts = (f"{with_article(a + ' ' + target.color + ' ' + noun)}", f"{with_article(b + ' ' + target.color + ' ' + noun)}",
             f"Is the {noun} filled in or only outlined?", "Filled" if a == "solid" else "Outlined",
             "Filled" if b == "solid" else "Outlined", f"Is the {noun} {word[a]}?", f"Is the {noun} {word[b]}?")
    return _one_object_pair(rng, config, "State", target, {"fill": b}, texts, (a, b))


def color_pair(rng, config: WorldConfig) -> Pair:
    a, b = _swap(rng, *choice(rng, NEAR_COLOR_PAIRS))
    shape = choice(rng, [s for s in SHAPES if s not in GLYPH_SHAPES])
    target = sample_object(rng, config, sample_theme(rng), shape=shape, color=a, size="large")
    noun = target.noun
    texts = (with_article(f"{a} {noun}"), with_article(f"{b} {noun}"), f"What color is the {noun}?",
             a.capitalize(), b.capitalize(), f"Is the {noun} {a}?", f"Is the {noun} {b}?")
    return _one_object_pair(rng, config, "Color", target, {"color": b}, texts, (a, b))


def structural_pair(rng, config: WorldConfig) -> Pair:
    theme = sample_theme(rng)
    if rng.random() < 0.6:
        a, b = _swap(rng, "5", "6")
        target = dataclasses.replace(sample_object(rng, config, theme, shape="star", size="large"), variant=a, mark=None)
        words = {"5": "five-pointed", "6": "six-pointed"}
        values = (words[a], words[b])
        texts = (with_article(f"{words[a]} {target.color} star"), with_article(f"{words[b]} {target.color} star"),
                 "How many points does the star have?", "Five" if a == "5" else "Six", "Five" if b == "5" else "Six",
                 f"Does the star have {number_word(int(a))} points?", f"Does the star have {number_word(int(b))} points?")
    else:
        a, b = _swap(rng, "6", "8")
        target = dataclasses.replace(sample_object(rng, config, theme, shape="hexagon", size="large"), variant=a)
        names = {"6": "hexagon", "8": "octagon"}
        values = (names[a], names[b])
        texts = (with_article(f"{target.color} {names[a]}"), with_article(f"{target.color} {names[b]}"),
                 "How many sides does the shape have?", "Six" if a == "6" else "Eight", "Six" if b == "6" else "Eight",
                 f"Is the shape {with_article(names[a])}?", f"Is the shape {with_article(names[b])}?")
    return _one_object_pair(rng, config, "Structural Character", target, {"variant": b}, texts, values)


def text_pair(rng, config: WorldConfig) -> Pair:
    a, b = _swap(rng, *choice(rng, TEXT_PAIRS))
    shape = "digit" if a.isdigit() else "letter"
    target = dataclasses.replace(sample_object(rng, config, sample_theme(rng), shape=shape, size="large"), glyph=a)
    texts = (f"the {shape} {a} written in {target.color}", f"the {shape} {b} written in {target.color}",
             f"Which {shape} is shown?", a, b, f"Is the {shape} {a} shown?", f"Is the {shape} {b} shown?")
    return _one_object_pair(rng, config, "Text", target, {"glyph": b}, texts, (a, b))


def quantity_pair(rng, config: WorldConfig) -> Pair:
    few, many = choice(rng, [(2, 3), (2, 3), (1, 2), (3, 4)])
    theme, camera = sample_theme(rng), _quiet_camera(rng)
    shape = choice(rng, PLAIN_SHAPES)
    first = sample_object(rng, config, theme, shape=shape, size="small")
    shrink = 0.85 if many == 4 else 1.0
    first = dataclasses.replace(first, diameter=round(config.small_diameter[0] * shrink, 4), mark=None)
    objects: list[WorldObject] = []
    for attempt in range(60):  # separate copies; a little overlap only after many tries
        objects = place_objects(rng, [first] * many, camera, config, max_overlap=0.0 if attempt < 30 else 0.1)
        if len(objects) == many:
            break
    else:
        raise RuntimeError(f"no room for {many} objects in a quantity pair")
    a, b = _swap(rng, objects[:few], objects)
    plural, noun = first.plural, first.noun
    def says(n):
        return f"{number_word(n)} {first.color} {plural}" if n > 1 else with_article(f"{first.color} {noun}")
    def asks(n):
        return f"Is there exactly one {noun}?" if n == 1 else f"Are there exactly {number_word(n)} {plural}?"
    na, nb = len(a), len(b)
    scene_a, scene_b = _scenes(rng, theme, camera, a, b)
    return Pair("Quantity", scene_a, scene_b, says(na), says(nb), f"How many {plural} are there?",
                number_word(na).capitalize(), number_word(nb).capitalize(), asks(na), asks(nb), values=(str(na), str(nb)))


def spatial_pair(rng, config: WorldConfig) -> Pair:
    theme, camera = sample_theme(rng), _quiet_camera(rng)
    shape_a, shape_b = rng.choice(PLAIN_SHAPES, size=2, replace=False)
    color_a, color_b = choice(rng, COLOR_NAMES), choice(rng, COLOR_NAMES)
    z = round(float(rng.uniform(0.1, 0.6)), 4)
    small = config.small_diameter[0]
    anchor = sample_object(rng, config, theme, shape=str(shape_b), color=color_b, size="small")
    anchor = dataclasses.replace(anchor, x=0.0, z=z, diameter=small, mark=None)
    mover = sample_object(rng, config, theme, shape=str(shape_a), color=color_a, size="small")
    dx = round(float(rng.uniform(0.85, 1.0)), 4)
    mover = dataclasses.replace(mover, diameter=small, mark=None, z=round(z + float(rng.uniform(-0.08, 0.08)), 4))
    side_a, side_b = _swap(rng, "left", "right")
    left, right = dataclasses.replace(mover, x=-dx), dataclasses.replace(mover, x=dx)
    first = left if side_a == "left" else right
    second = right if side_a == "left" else left
    name_a, name_b = f"{color_a} {mover.noun}", f"{color_b} {anchor.noun}"
    scene_a, scene_b = _scenes(rng, theme, camera, [first, anchor], [second, anchor])
    return Pair("Spatial", scene_a, scene_b,
                f"{with_article(name_a)} to the {side_a} of {with_article(name_b)}",
                f"{with_article(name_a)} to the {side_b} of {with_article(name_b)}",
                f"Is the {name_a} to the left or to the right of the {name_b}?", side_a.capitalize(), side_b.capitalize(),
                f"Is the {name_a} to the {side_a} of the {name_b}?", f"Is the {name_a} to the {side_b} of the {name_b}?",
                values=(side_a, side_b))


def viewpoint_pair(rng, config: WorldConfig) -> Pair:
    theme = sample_theme(rng)
    near, wide = config.closeup_zoom, config.wide_zoom
    camera = Camera(zoom=wide, rotation=round(float(rng.uniform(-3, 3)), 3))
    shape = choice(rng, [s for s in SHAPES if s not in GLYPH_SHAPES])
    target = sample_object(rng, config, theme, shape=shape, size="small")
    target = place_objects(rng, [target], Camera(zoom=near), config, x_range=(-0.2, 0.2), z_range=(0.3, 0.6))[0]
    a, b = _swap(rng, near, wide)
    scene_a, scene_b = _scenes(rng, theme, camera, [target], [target])
    scene_a = dataclasses.replace(scene_a, camera=dataclasses.replace(camera, zoom=a))
    scene_b = dataclasses.replace(scene_b, camera=dataclasses.replace(camera, zoom=b))
    view = {near: "close-up view", wide: "wide view"}
    name = with_article(f"{target.color} {target.noun}")
    return Pair("Camera Perspective", scene_a, scene_b, f"{with_article(view[a])} of {name}", f"{with_article(view[b])} of {name}",
                "Is this a close-up or a wide view?", "Close-up" if a == near else "Wide",
                "Close-up" if b == near else "Wide", f"Is this {with_article(view[a])}?", f"Is this {with_article(view[b])}?",
                values=("close-up" if a == near else "wide", "close-up" if b == near else "wide"))


BUILDERS = {
    "Orientation": orientation_pair,
    "Presence": presence_pair,
    "State": state_pair,
    "Quantity": quantity_pair,
    "Spatial": spatial_pair,
    "Color": color_pair,
    "Structural Character": structural_pair,
    "Text": text_pair,
    "Camera Perspective": viewpoint_pair,
}


def build_pair(pattern: str, rng: np.random.Generator, config: WorldConfig) -> Pair:
    """One pair of the named pattern (a ``PATTERNS`` entry)."""
    return BUILDERS[pattern](rng, config)

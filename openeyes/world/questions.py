"""Question-answer turns about a scene for the instruction set (LLaVA conversation JSON).

Each generator reads only the scene description and returns (question, answer) or None when
it does not apply: existence, counting, colour, position, relation, depth, multiple choice
and yes/no. Objects are named "the red star" only when that name is unique in the scene.
"""
from __future__ import annotations

import numpy as np

from openeyes.world.captions import the_phrase
from openeyes.world.config import WorldConfig
from openeyes.world.sampling import choice
from openeyes.world.scene import Scene, WorldObject, place
from openeyes.world.vocab import COLOR_NAMES, NOUNS, PLURALS, number_word, with_article

SHORT = "\nAnswer the question using a single word or phrase."
LETTERS = "ABCD"


def nameable(scene: Scene) -> list[WorldObject]:
    """Objects whose 'the <color> <noun>' name is unique in the scene."""
    names = [the_phrase(o) for o in scene.objects]
    return [o for o, n in zip(scene.objects, names) if names.count(n) == 1]


def existence(scene: Scene, rng: np.random.Generator, config: WorldConfig):
    present = sorted({o.noun for o in scene.objects})
    noun = choice(rng, present) if rng.random() < 0.5 else choice(rng, NOUNS)
    answer = "Yes" if noun in present else "No"
    return f"Is there {with_article(noun)} in the image?{SHORT}", answer


def counting(scene: Scene, rng, config):
    noun = choice(rng, sorted({o.noun for o in scene.objects}))
    count = sum(o.noun == noun for o in scene.objects)
    return f"How many {PLURALS[noun]} are there in the image?{SHORT}", number_word(count).capitalize()


def color(scene: Scene, rng, config):
    unique = [o for o in scene.objects if sum(p.noun == o.noun for p in scene.objects) == 1]
    if not unique:
        return None
    obj = choice(rng, unique)
    return f"What color is the {obj.noun}?{SHORT}", obj.color.capitalize()


def position(scene: Scene, rng, config):
    candidates = nameable(scene)
    if not candidates:
        return None
    obj = choice(rng, candidates)
    cx = place(obj, scene.camera, config).cx
    side = "left" if cx < 0.4 else "right" if cx > 0.6 else "middle"
    answer = {"left": "On the left.", "right": "On the right.", "middle": "In the middle."}[side]
    return f"Where in the image is {the_phrase(obj)}?", answer


def _two(scene: Scene, rng):
    candidates = nameable(scene)
    if len(candidates) < 2:
        return None
    i, j = rng.choice(len(candidates), size=2, replace=False)
    return candidates[int(i)], candidates[int(j)]


def relation(scene: Scene, rng, config):
    two = _two(scene, rng)
    if two is None:
        return None
    a, b = two
    dx = place(a, scene.camera, config).cx - place(b, scene.camera, config).cx
    if abs(dx) < config.relation_margin:
        return None
    side = "left" if dx < 0 else "right"
    return (f"Is {the_phrase(a)} to the left or to the right of {the_phrase(b)}?{SHORT}",
            side.capitalize())


def depth(scene: Scene, rng, config):
    two = _two(scene, rng)
    if two is None or abs(two[0].z - two[1].z) < config.depth_margin:
        return None
    a, b = two
    nearer = a if a.z < b.z else b
    return (f"Which is closer to the camera, {the_phrase(a)} or {the_phrase(b)}?",
            f"{the_phrase(nearer)[0].upper()}{the_phrase(nearer)[1:]} is closer.")


def multiple_choice(scene: Scene, rng, config):
    candidates = [o for o in scene.objects if sum(p.noun == o.noun for p in scene.objects) == 1]
    if not candidates:
        return None
    obj = choice(rng, candidates)
    wrong = [c for c in COLOR_NAMES if c != obj.color]
    options = [obj.color] + [wrong[int(k)] for k in rng.choice(len(wrong), size=3, replace=False)]
    options = [options[int(k)] for k in rng.permutation(4)]
    lines = "\n".join(f"{LETTERS[k]}. {opt}" for k, opt in enumerate(options))
    question = (f"What color is the {obj.noun}?\n{lines}\n"
                "Answer with the option's letter from the given choices directly.")
    return question, LETTERS[options.index(obj.color)]


def yes_no(scene: Scene, rng, config):
    obj = choice(rng, list(scene.objects))
    shown = obj.color if rng.random() < 0.5 else choice(rng, COLOR_NAMES)
    truth = any(o.noun == obj.noun and o.color == shown for o in scene.objects)
    return f"Is there {with_article(shown + ' ' + obj.noun)} in the image?{SHORT}", "Yes" if truth else "No"


GENERATORS = {
    "existence": existence, "counting": counting, "color": color, "position": position,
    "relation": relation, "depth": depth, "multiple_choice": multiple_choice, "yes_no": yes_no,
}


def conversation(scene: Scene, rng: np.random.Generator, config: WorldConfig, turns: int = 4) -> list[dict]:
    """LLaVA ``conversations``: alternating human/gpt turns, '<image>\\n' on the first."""
    names = list(GENERATORS)
    chosen = []
    for k in rng.permutation(len(names)):
        qa = GENERATORS[names[int(k)]](scene, rng, config)
        if qa is not None:
            chosen.append(qa)
        if len(chosen) == turns:
            break
    messages = []
    for index, (question, answer) in enumerate(chosen):
        messages.append({"from": "human", "value": ("<image>\n" if index == 0 else "") + question})
        messages.append({"from": "gpt", "value": answer})
    return messages

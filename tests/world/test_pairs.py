"""MMVP-style pairs: exactly one attribute differs, and every answer follows from the scenes."""
import pytest

from openeyes.world.captions import relation
from openeyes.world.config import WorldConfig
from openeyes.world.pairs import PATTERNS, build_pair
from openeyes.world.sampling import rng_for
from openeyes.world.scene import place, scene_diff
from openeyes.world.vocab import number_word

CONFIG = WorldConfig()
EXPECTED_FIELD = {
    "Orientation": "objects[0].orientation", "Presence": "objects[0].mark", "State": "objects[0].fill",
    "Spatial": "objects[0].x", "Color": "objects[0].color", "Structural Character": "objects[0].variant",
    "Text": "objects[0].glyph", "Camera Perspective": "camera.zoom",
}


def answer_from_scene(pattern, scene):
    """The option text a reader of the description alone would give."""
    obj = scene.objects[0]
    if pattern == "Orientation":
        return obj.orientation.capitalize()
    if pattern == "Presence":
        return "Yes" if obj.mark == "dot" else "No"
    if pattern == "State":
        return "Filled" if obj.fill == "solid" else "Outlined"
    if pattern == "Quantity":
        return number_word(sum(o.noun == obj.noun for o in scene.objects)).capitalize()
    if pattern == "Spatial":
        a, b = place(scene.objects[0], scene.camera, CONFIG), place(scene.objects[1], scene.camera, CONFIG)
        return "Left" if a.cx < b.cx else "Right"
    if pattern == "Color":
        return obj.color.capitalize()
    if pattern == "Structural Character":
        return {"5": "Five", "6": "Six", "8": "Eight"}[obj.variant]
    if pattern == "Text":
        return obj.glyph
    return "Close-up" if scene.camera.zoom == CONFIG.closeup_zoom else "Wide"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pairs_differ_in_exactly_one_attribute_and_answers_follow(pattern):
    for index in range(15):
        pair = build_pair(pattern, rng_for(0, "test", index, "pairs"), CONFIG)
        diff = scene_diff(pair.scene_a, pair.scene_b)
        assert len(diff) == 1, (pattern, diff)
        if pattern == "Quantity":
            assert diff[0].endswith("added")
        else:
            assert diff == [EXPECTED_FIELD[pattern]]
        assert answer_from_scene(pattern, pair.scene_a) == pair.answer_a
        assert answer_from_scene(pattern, pair.scene_b) == pair.answer_b
        assert pair.answer_a != pair.answer_b and pair.statement_a != pair.statement_b
        assert pair.statement_a.lower().startswith(("a ", "an ", "the ", "two ", "three ", "four "))


def test_spatial_pairs_hold_by_a_clear_margin():
    for index in range(15):
        pair = build_pair("Spatial", rng_for(0, "test", index, "pairs"), CONFIG)
        for scene in (pair.scene_a, pair.scene_b):
            rel = relation([scene.objects[0]], [scene.objects[1]], scene, CONFIG)
            assert rel in ("to the left of", "to the right of")
            assert rel.split()[-2] in (pair.statement_a if scene is pair.scene_a else pair.statement_b)


def test_the_value_on_image_a_is_not_always_the_same():
    firsts = {build_pair("Orientation", rng_for(0, "test", i, "pairs"), CONFIG).answer_a for i in range(20)}
    assert len(firsts) >= 2

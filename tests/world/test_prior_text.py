"""The prior's captions: full captions state every attribute; the pair stream speaks the benchmark's words."""
import pytest

from openeyes.world.captions import full_caption
from openeyes.world.config import WorldConfig
from openeyes.world.dataset import WorldImageText
from openeyes.world.prior_text import WorldPriorText
from openeyes.world.scene import Background, Camera, Scene, WorldObject
from openeyes.world.vocab import number_word


def obj(shape, **fields):
    base = dict(shape=shape, color="red", size="large", x=0.0, z=0.3, diameter=0.5, fill="solid", mark=None,
                orientation=None, variant=None, glyph=None)
    return WorldObject(**{**base, **fields})


def test_full_caption_states_every_attribute():
    config = WorldConfig(image_size=32)
    scene = Scene(objects=(obj("arrow", orientation="left", mark="dot", x=-0.9),
                           obj("star", color="blue", size="small", fill="outlined", variant="6", x=0.9)),
                  camera=Camera(), background=Background(style="plain"), theme="traffic")
    text = full_caption(scene, config)
    assert text == "a large red solid arrow pointing left with a dot to the left of a small blue outlined six-pointed star."
    moons = Scene(objects=(obj("moon", orientation="right", fill=None, x=-0.9), obj("moon", orientation="right", fill=None, x=0.0),
                           obj("digit", glyph="8", fill=None, x=0.9)),
                  camera=Camera(), background=Background(style="plain"), theme="signs")
    text = full_caption(moons, config)
    assert f"{number_word(2)} large red moons facing right" in text and "digit 8" in text


def test_world_captions_and_the_prior_stream_are_deterministic():
    plain = WorldImageText(0, "train", size=16)
    assert [plain.caption(i) for i in range(20)] == [plain[i]["text"] for i in range(20)]
    stream = WorldPriorText(0, "train", size=16, length=400)
    texts = [stream[i]["text"] for i in range(60)]
    assert texts == [stream.scene_text(i)[1] for i in range(60)] == [WorldPriorText(0, "train", size=16)[i]["text"]
                                                                     for i in range(60)]
    words = " ".join(stream.scene_text(i)[1] for i in range(400))
    for phrase in ("facing", "pointing", "with a dot", "without a dot", "close-up view", "wide view", "written in",
                   "to the left of", "to the right of", "pointed", "outlined"):
        assert phrase in words, phrase
    only_scenes = WorldPriorText(0, "train", size=16, pair_fraction=0.0)
    assert all(only_scenes[i]["text"].endswith(".") for i in range(20))  # full captions end with a period
    with pytest.raises(ValueError):
        WorldPriorText(0, "train", pair_fraction=1.5)

"""Rendering: deterministic pixels, visible objects, and fine attributes that change pixels."""
import dataclasses

import numpy as np

from openeyes.world.config import WorldConfig
from openeyes.world.render import render
from openeyes.world.scene import Background, Camera, Scene, WorldObject, place
from openeyes.world.vocab import COLORS, SHAPES

CONFIG = WorldConfig()


def one(**attributes) -> Scene:
    obj = WorldObject(shape="star", color="red", size="large", diameter=0.55, x=0.0, z=0.2, fill="solid", variant="5")
    return Scene(objects=(dataclasses.replace(obj, **attributes),), camera=Camera(), background=Background())


def test_render_is_deterministic_uint8():
    scene = one()
    a, b = render(scene, CONFIG), render(scene, CONFIG)
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3) and np.array_equal(a, b)


def test_every_shape_draws_its_colour_at_a_recognisable_size():
    for shape in SHAPES:
        attrs = {"shape": shape, "fill": None if shape in ("ring", "letter", "digit") else "solid",
                 "variant": {"star": "5", "hexagon": "6"}.get(shape),
                 "orientation": {"arrow": "left", "triangle": "up", "moon": "left"}.get(shape),
                 "glyph": {"letter": "E", "digit": "8"}.get(shape)}
        image = render(one(**attrs), CONFIG).astype(int)
        close = np.abs(image - np.array(COLORS["red"])).sum(-1) < 60
        ys, xs = np.nonzero(close)
        assert close.sum() > 40, shape
        assert 18 <= max(xs.max() - xs.min(), ys.max() - ys.min()) + 1 <= 40, shape


def test_fine_attributes_change_pixels():
    base = render(one(), CONFIG)
    for change in ({"variant": "6"}, {"fill": "outlined"}, {"mark": "dot"}, {"color": "orange"}):
        assert np.abs(render(one(**change), CONFIG).astype(int) - base).sum() > 1000, change
    left = render(one(shape="arrow", variant=None, orientation="left"), CONFIG)
    right = render(one(shape="arrow", variant=None, orientation="right"), CONFIG)
    assert np.array_equal(left[:, ::-1], right) or np.abs(left.astype(int) - right).sum() > 1000


def test_perspective_far_objects_are_smaller_and_higher_and_near_ones_occlude():
    near = place(one(z=0.0).objects[0], Camera(), CONFIG)
    far = place(one(z=1.0).objects[0], Camera(), CONFIG)
    assert far.radius < near.radius and far.cy < near.cy
    back = WorldObject(shape="square", color="blue", size="large", diameter=0.5, x=0.0, z=0.5, fill="solid")
    front = dataclasses.replace(back, color="green", z=0.1)
    scene = Scene(objects=(front, back), camera=Camera(), background=Background())
    p = place(front, Camera(), CONFIG)
    pixel = render(scene, CONFIG)[int(p.cy * 64), int(p.cx * 64)].astype(int)
    assert np.abs(pixel - np.array(COLORS["green"])).sum() < 40


def test_camera_zoom_enlarges_the_object():
    close = render(dataclasses.replace(one(), camera=Camera(zoom=1.5)), CONFIG)
    wide = render(dataclasses.replace(one(), camera=Camera(zoom=0.85)), CONFIG)
    red = np.array(COLORS["red"])
    count = lambda img: (np.abs(img.astype(int) - red).sum(-1) < 60).sum()  # noqa: E731
    assert count(close) > 1.8 * count(wide)

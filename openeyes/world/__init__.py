"""The synthetic world: procedural scenes of shapes, their renderings, captions, datasets and
benchmark exporters in the official on-disk layouts (see WORLD.md and BENCHMARKS.md).

Everything is deterministic in (seed, split, index): ``scene.py`` holds the pure-data scene
description, ``sampling.py`` draws scenes, ``render.py`` draws them with PIL, ``captions.py``
and ``questions.py`` turn descriptions into text, ``pairs.py`` builds the one-attribute pairs
of MMVP-style benchmarks, ``dataset.py`` exposes random-access datasets and ``exporters/``
writes each benchmark.

Choices (see WORLD.md for the sketch):
- 13 categories (circle, square, triangle, star, heart, cross, ring, arrow, diamond, hexagon,
  moon, letter, digit); a hexagon-category object with 8 sides is named "octagon", so 14
  nouns for POPE and text. 10 colours with near pairs; six themes weight shapes and colours.
- Ground plane: x in [-1, 1], z in [0, 1] (0 nearest); apparent size x (1 - 0.22 z), screen
  height rises with z; nearer objects are drawn last. Camera zoom / roll / shift act on the
  projected geometry (exact, no resampling). Objects are about 16-41 px at 64 px.
- Random streams: numpy Philox seeded by SeedSequence(seed, blake2b(split), blake2b(stream),
  index); benchmarks use the "test" split.
- One-attribute pairs: ``scene_diff`` of the two scenes lists exactly one changed field
  (quantity: one added object; spatial: the moving object's x; viewpoint: camera zoom).
- Glyphs are drawn from strokes (no font files), so output bytes do not depend on the system.
"""
from openeyes.world.config import WorldConfig

__all__ = ["WorldConfig"]

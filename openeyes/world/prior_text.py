"""Image-text pairs for a diffusion prior that must tell the world's fine attributes apart.

``WorldPriorText`` mixes two streams, item ``i`` a pure function of (seed, split, i):

    scenes  ordinary caption scenes with ``full_caption`` (every attribute stated, every time)
    pairs   one image of an MMVP-style pair (``openeyes.world.pairs``, pattern ``i % 9``) with its
            own statement, so the prior also reads the benchmark's phrasings ("facing left",
            "without a dot", "a close-up view of ...") and sees close-up / wide cameras,
            which ordinary scenes never have

A ``pair_fraction`` of the items come from the pair stream. Training uses a train split; the
gates (``openeyes.training.prior.gates``) score held-out test-split pairs of another seed.
"""
from __future__ import annotations

from openeyes.world.captions import full_caption
from openeyes.world.dataset import _WorldDataset, scene_labels
from openeyes.world.pairs import PATTERNS, build_pair
from openeyes.world.render import render
from openeyes.world.sampling import rng_for, sample_scene
from openeyes.world.scene import Scene


class WorldPriorText(_WorldDataset):
    """``{"image": uint8 [size, size, 3], "text": str, "labels": dict}`` (see the module docstring)."""

    stream = "prior_text"

    def __init__(self, seed: int, split: str, size: int = 64, length: int = 100_000, config=None,
                 pair_fraction: float = 0.5):
        super().__init__(seed, split, size, length, config)
        if not 0.0 <= pair_fraction <= 1.0:
            raise ValueError(f"pair_fraction must be in [0, 1], got {pair_fraction}")
        self.pair_fraction = float(pair_fraction)

    def scene_text(self, i: int) -> tuple[Scene, str]:
        """Item ``i``'s scene and text (nothing rendered)."""
        i = self._index(i)
        rng = rng_for(self.seed, self.split, i, self.stream)
        if rng.random() < self.pair_fraction:
            pair = build_pair(PATTERNS[i % len(PATTERNS)], rng, self.config)
            return (pair.scene_a, pair.statement_a) if rng.random() < 0.5 else (pair.scene_b, pair.statement_b)
        scene = sample_scene(rng, self.config)
        return scene, full_caption(scene, self.config)

    def __getitem__(self, i: int) -> dict:
        scene, text = self.scene_text(i)
        return {"image": render(scene, self.config), "text": text, "labels": scene_labels(scene, self.config)}

"""Per-patch labels of world scenes: the layout follows the renderer, the map follows the layout."""
import numpy as np
import pytest

from openeyes.world.dataset import WorldImageText
from openeyes.world.patch_labels import BACKGROUND_COLOR, BACKGROUND_NOUN, patch_label_map
from openeyes.world.vocab import COLOR_NAMES, NOUNS


def test_map_marks_patch_centres_inside_the_shrunk_disc_nearest_last():
    far = (0.5, 0.5, 0.30, 3, 1)  # centre, radius 0.3 -> 0.255 after coverage 0.85
    near = (0.25, 0.25, 0.10, 7, 4)
    nouns, colors = patch_label_map((far, near), grid=4)
    # patch centres at 0.125, 0.375, 0.625, 0.875
    expected = np.full((4, 4), BACKGROUND_NOUN)
    for gy, y in enumerate((0.125, 0.375, 0.625, 0.875)):
        for gx, x in enumerate((0.125, 0.375, 0.625, 0.875)):
            if (x - 0.5) ** 2 + (y - 0.5) ** 2 < (0.30 * 0.85) ** 2:
                expected[gy, gx] = 3
            if (x - 0.25) ** 2 + (y - 0.25) ** 2 < (0.10 * 0.85) ** 2:
                expected[gy, gx] = 7
    assert nouns.tolist() == expected.reshape(-1).tolist()
    assert set(colors.tolist()) <= {1, 4, BACKGROUND_COLOR}
    assert ((colors == BACKGROUND_COLOR) == (nouns == BACKGROUND_NOUN)).all()
    with pytest.raises(ValueError):
        patch_label_map((far,), grid=0)


def test_world_items_carry_a_layout_whose_map_covers_every_object():
    dataset = WorldImageText(0, "train", size=64, length=50)
    for i in range(20):
        item = dataset[i]
        labels, scene = item["labels"], dataset.scene(i)
        assert len(labels["layout"]) == len(scene.objects)
        nouns, colors = patch_label_map(labels["layout"], grid=16)
        drawn = {NOUNS[n] for n in nouns.tolist() if n != BACKGROUND_NOUN}
        assert drawn <= {o.noun for o in scene.objects}
        nearest = min(scene.objects, key=lambda o: o.z)  # drawn last, never occluded
        assert nearest.noun in drawn
        assert {COLOR_NAMES[c] for c in colors.tolist() if c != BACKGROUND_COLOR} <= {o.color for o in scene.objects}


def test_collate_emits_patch_maps_only_when_asked():
    from openeyes.training.recipes.encoder_data import ImageTextCollate

    dataset = WorldImageText(0, "train", size=64, length=10)
    samples = [dataset[i] for i in range(3)]
    assert "patch_nouns" not in ImageTextCollate(64)(samples)
    batch = ImageTextCollate(64, patch_grid=8)(samples)
    assert batch["patch_nouns"].shape == (3, 64) and batch["patch_colors"].shape == (3, 64)
    assert batch["patch_nouns"][0].tolist() == patch_label_map(samples[0]["labels"]["layout"], 8)[0].tolist()

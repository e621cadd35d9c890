"""Seeds that once broke an export (kept so they stay fixed)."""
from openeyes.world.generate import generate_world


def test_pope_seed_1_n_1080_samples_every_scene(tmp_path):
    """20 placement attempts were too few for one 4-object scene of this stream (make demo)."""
    manifest = generate_world(tmp_path / "w", seed=1, n=1080, size=32, names=["pope"])
    assert (tmp_path / "w" / "pope" / "coco_pope_adversarial.json").is_file()
    assert manifest is not None

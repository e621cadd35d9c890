"""`openeyes train encoder` end to end on the world: artifact, towers, LoRA, labels head, CLI errors."""
import pytest
import torch

from openeyes.cli import main
from openeyes.config import load_config
from openeyes.encoders.loading import load_encoder
from openeyes.training.recipes.encoder import EncoderTrainConfig, train_encoder, tower_of
from encoder_recipe_settings import TINY



def _config(tmp_path, name, extra=()):
    return load_config(EncoderTrainConfig, None, [*TINY, f"trainer.out_dir={tmp_path / name / 'run'}",
                                                  f"out={tmp_path / name / 'artifact'}", *extra])


@pytest.fixture(scope="module")
def base_artifact(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    config = _config(tmp, "base", ["objectives=[{name: clip}, {name: labels}]"])
    return train_encoder(config)


def test_fresh_run_writes_a_loadable_artifact(base_artifact):
    encoder = load_encoder(str(base_artifact))
    assert encoder.image_size == 32 and encoder.embed_dim == 16
    pixels = encoder.normalize(torch.rand(2, 3, 32, 32))
    assert encoder.encode_image(pixels).shape == (2, 16)
    from transformers import CLIPModel

    assert not any("head" in k for k in CLIPModel.from_pretrained(str(base_artifact)).state_dict())


def _weights(spec):
    return {k: v.clone() for k, v in load_encoder(str(spec)).model.state_dict().items()}


def test_vision_only_training_keeps_the_text_tower(tmp_path, base_artifact):
    config = _config(tmp_path, "vision", [f"init.encoder={base_artifact}", "towers=vision"])
    before, after = _weights(base_artifact), _weights(train_encoder(config))
    changed = {tower_of(k) for k in before if not torch.equal(before[k], after[k])}
    assert "vision" in changed and "text" not in changed


def test_lora_run_merges_into_a_plain_clip(tmp_path, base_artifact):
    config = _config(tmp_path, "lora", [f"init.encoder={base_artifact}", "lora.enabled=true", "lora.r=2"])
    before, after = _weights(base_artifact), _weights(train_encoder(config))
    assert set(before) == set(after)  # no lora_ keys left after merging
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_cli_bad_objective_is_one_line_exit_2(tmp_path, capsys):
    code = main(["train", "encoder", "objectives=[{name: nope}]", f"trainer.out_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown objective 'nope'" in err and err.count("\n") == 1

"""Assemble (encoder + LM -> Llava) and swap the tower."""
import pytest
import torch

from openeyes.cli import main


def test_assembled_mllm_has_encoder_tower_and_lm(mllm_dir, encoder_dirs, lm_dir):
    from transformers import AutoModelForCausalLM

    from openeyes.artifacts import read_card
    from openeyes.encoders.loading import load_encoder
    from openeyes.mllm.loading import load_mllm

    model, processor, card = load_mllm(mllm_dir)
    assert card["mllm"]["projector"] == "mlp2x_gelu" and card["mllm"]["servable_by_vllm"]
    assert model.config.image_seq_length == 16  # (32/8)^2 patches + CLS - CLS (default strategy)
    assert model.config.image_token_index == processor.tokenizer.convert_tokens_to_ids("<image>")
    encoder = load_encoder(encoder_dirs["clip"])
    pixels = torch.randn(1, 3, 32, 32)
    expected = encoder.image_tokens(pixels, layer=-2)
    got = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]
    assert torch.allclose(expected, got, atol=1e-5)
    lm = AutoModelForCausalLM.from_pretrained(lm_dir)
    assert torch.equal(lm.lm_head.weight, model.lm_head.weight)
    assert read_card(mllm_dir)["kind"] == "mllm"


def test_full_strategy_linear_projector_and_siglip(encoder_dirs, lm_dir, tmp_path):
    from openeyes.mllm.loading import load_mllm

    out = tmp_path / "lin"
    assert main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", lm_dir, "--out", str(out),
                 "--select-strategy", "full", "--projector", "linear"]) == 0
    model, _, card = load_mllm(out)
    assert model.config.image_seq_length == 17 and card["mllm"]["servable_by_vllm"] is False
    out = tmp_path / "sig"
    assert main(["integrate", "llava", "--encoder", encoder_dirs["siglip"], "--lm", lm_dir, "--out", str(out)]) == 0
    model, _, _ = load_mllm(out)
    assert model.config.vision_feature_select_strategy == "full" and model.config.image_seq_length == 16


def test_bad_feature_layer_is_a_user_error(encoder_dirs, lm_dir, tmp_path, capsys):
    code = main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", lm_dir, "--out", str(tmp_path / "x"),
                 "--vision-feature-layer", "7"])
    assert code == 2 and "vision_feature_layer" in capsys.readouterr().err


def test_swap_keeps_lm_and_projector_when_width_matches(mllm_dir, encoder_dirs, tmp_path):
    from openeyes.encoders.loading import load_encoder
    from openeyes.mllm.loading import load_mllm

    out = tmp_path / "swapped"
    assert main(["integrate", "swap", "--mllm", mllm_dir, "--encoder", encoder_dirs["clip_b"], "--out", str(out)]) == 0
    old, _, _ = load_mllm(mllm_dir)
    new, _, card = load_mllm(out)
    assert card["mllm"]["projector_kept"] is True
    assert torch.equal(old.model.multi_modal_projector.linear_1.weight, new.model.multi_modal_projector.linear_1.weight)
    assert torch.equal(old.lm_head.weight, new.lm_head.weight)
    tower_b = load_encoder(encoder_dirs["clip_b"]).model.vision_model
    key = "embeddings.patch_embedding.weight"
    assert torch.equal(new.model.vision_tower.state_dict()[key], tower_b.state_dict()[key])


def test_swap_refuses_width_change_unless_reinit(mllm_dir, encoder_dirs, tmp_path, capsys):
    from openeyes.mllm.loading import load_mllm

    code = main(["integrate", "swap", "--mllm", mllm_dir, "--encoder", encoder_dirs["clip_narrow"], "--out", str(tmp_path / "a")])
    assert code == 2 and "--reinit-projector" in capsys.readouterr().err
    out = tmp_path / "b"
    assert main(["integrate", "swap", "--mllm", mllm_dir, "--encoder", encoder_dirs["clip_narrow"], "--out", str(out),
                 "--reinit-projector"]) == 0
    model, _, _ = load_mllm(out)
    assert model.model.multi_modal_projector.linear_1.in_features == 32

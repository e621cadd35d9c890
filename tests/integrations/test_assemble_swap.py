"""Assemble (encoder + LM -> Llava) and swap the tower."""
import json

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


def test_swap_refuses_a_tower_without_the_feature_layer(encoder_dirs, lm_dir, tmp_path, capsys):
    """An MLLM reading hidden state -3 of a 2-layer tower cannot take a 1-layer tower (valid -2..1)."""
    deep = tmp_path / "deep"
    assert main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", lm_dir, "--out", str(deep),
                 "--vision-feature-layer", "-3"]) == 0
    capsys.readouterr()
    code = main(["integrate", "swap", "--mllm", str(deep), "--encoder", encoder_dirs["clip_shallow"],
                 "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "vision_feature_layer -3 is outside the tower's hidden states (depth 1" in err
    assert len(error_lines(err)) == 1 and not (tmp_path / "x").exists()


def test_swap_clip_for_siglip_changes_strategy_and_tokens(mllm_dir, encoder_dirs, tmp_path):
    """Same width, other family: the projector is kept, the strategy follows the tower (no CLS: full)."""
    from openeyes.mllm.loading import load_mllm

    out = tmp_path / "sig"
    assert main(["integrate", "swap", "--mllm", mllm_dir, "--encoder", encoder_dirs["siglip"], "--out", str(out)]) == 0
    model, processor, card = load_mllm(out)
    assert model.config.vision_config.model_type == "siglip_vision_model" and card["mllm"]["projector_kept"]
    assert model.config.vision_feature_select_strategy == "full" and model.config.image_seq_length == 16
    from PIL import Image

    inputs = processor(images=[Image.new("RGB", (40, 30), (200, 10, 10))], text=["<image>\nWhat is it?"], return_tensors="pt")
    assert (inputs["input_ids"] == model.config.image_token_index).sum() == 16
    logits = model(**inputs).logits  # image features fill exactly the 16 expanded positions
    assert logits.shape[:2] == inputs["input_ids"].shape


def test_assemble_with_a_qwen2_lm_and_export_round_trip(encoder_dirs, tmp_path):
    """A Qwen2-architecture LM (no BOS, tied embeddings) assembles, exports and reloads identically."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from openeyes.integrations.llava.tiny_lm import train_tiny_lm_tokenizer
    from openeyes.integrations.llava.vllm_rules import check_vllm_rules

    tokenizer = train_tiny_lm_tokenizer(["What color is the moon? Blue", "a red circle"] * 5, vocab_size=300)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    lm = tmp_path / "qwen2"
    Qwen2ForCausalLM(config).save_pretrained(lm)
    tokenizer.save_pretrained(lm)
    mllm, exported = tmp_path / "mllm", tmp_path / "export"
    assert main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", str(lm), "--out", str(mllm)]) == 0
    assert main(["integrate", "export", "--mllm", str(mllm), "--out", str(exported)]) == 0  # --check: greedy compared
    saved = json.loads((exported / "config.json").read_text())
    assert saved["text_config"]["model_type"] == "qwen2" and check_vllm_rules(exported) == {}


@pytest.mark.parametrize("args, message", [
    (["llava", "--encoder", "/no/such/encoder", "--lm", "LM", "--out", "OUT"], "/no/such/encoder"),
    (["llava", "--encoder", "ENC", "--lm", "LM", "--out", "OUT", "--projector", "qformer"], "--projector must be one of"),
    (["llava", "--encoder", "ENC", "--lm", "LM", "--out", "OUT", "--select-strategy", "cls"], "--select-strategy"),
    (["llava", "--encoder", "ENC", "--lm", "/no/such/lm", "--out", "OUT"], "/no/such/lm"),
    (["swap", "--mllm", "/no/such/mllm", "--encoder", "ENC", "--out", "OUT"], "/no/such/mllm"),
    (["train", "--stage", "3", "--mllm", "MLLM", "--data", "DATA", "--out", "OUT"], "stage must be 1 or 2"),
    (["train", "--mllm", "MLLM", "--data", "DATA", "--out", "OUT", "optim.nope=1"], "nope"),
    (["export", "--mllm", "LINEAR", "--out", "OUT"], "linear projector"),
    (["export", "--mllm", "MLLM", "--out", "MLLM"], "must differ"),
    (["import-original", "--src", "/no/such/ckpt", "--out", "OUT"], "/no/such/ckpt"),
    (["export-original", "--mllm", "/no/such/mllm", "--out", "OUT"], "/no/such/mllm"),
])
def test_user_errors_are_one_line_and_exit_2(args, message, mllm_dir, encoder_dirs, lm_dir, tmp_path, capsys):
    linear = tmp_path / "linear"
    assert main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", lm_dir, "--out", str(linear),
                 "--projector", "linear"]) == 0
    capsys.readouterr()
    names = {"ENC": encoder_dirs["clip"], "LM": lm_dir, "MLLM": mllm_dir, "LINEAR": str(linear),
             "DATA": str(tmp_path), "OUT": str(tmp_path / "out")}
    code = main(["integrate", *[names.get(a, a) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(error_lines(err)) == 1 and "Traceback" not in err, err


def error_lines(err: str) -> list[str]:
    """stderr without transformers' weight-loading progress bars (tqdm lines ending in ``it/s]``)."""
    return [line for line in err.splitlines() if line.strip() and not line.rstrip().endswith("it/s]")]


def test_zoo_names_work_for_every_model_option(tmp_path):
    """zoo:NAME for --lm (llava) and for the Path-typed --mllm (swap) too; they went to the hub before."""
    from openeyes.mllm.loading import load_mllm

    assembled, swapped = tmp_path / "assembled", tmp_path / "swapped"
    assert main(["integrate", "llava", "--encoder", "zoo:tiny-clip", "--lm", "zoo:tiny-lm", "--vision-feature-layer", "-1",
                 "--out", str(assembled)]) == 0
    assert main(["integrate", "swap", "--mllm", "zoo:tiny-llava", "--encoder", "zoo:tiny-saco", "--out", str(swapped)]) == 0
    _, _, card = load_mllm(swapped)
    assert card["base"] == "tiny-llava" and card["mllm"]["encoder"] == "zoo:tiny-saco"

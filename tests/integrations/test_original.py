"""Original-LLaVA layout: export (stage-1 projector, tower dir, full checkpoint) and import round trip."""
import json
import shutil

import torch

from openeyes.cli import main


def test_export_then_import_original_round_trip(mllm_dir, tmp_path):
    from openeyes.integrations.llava.export import greedy_probe
    from openeyes.mllm.loading import load_mllm

    orig, back = tmp_path / "orig", tmp_path / "back"
    assert main(["integrate", "export-original", "--mllm", mllm_dir, "--out", str(orig), "--full"]) == 0
    projector = torch.load(orig / "mm_projector.bin", weights_only=True)
    assert sorted(projector) == ["model.mm_projector.0.bias", "model.mm_projector.0.weight",
                                 "model.mm_projector.2.bias", "model.mm_projector.2.weight"]
    config = json.loads((orig / "config.json").read_text())
    assert config["mm_projector_type"] == "mlp2x_gelu" and config["mm_vision_select_feature"] == "patch"
    assert (orig / "vision_tower" / "preprocessor_config.json").is_file()
    assert main(["integrate", "import-original", "--src", str(orig), "--out", str(back)]) == 0
    a, pa, _ = load_mllm(mllm_dir)
    b, pb, _ = load_mllm(back)
    assert greedy_probe(a, pa) == greedy_probe(b, pb)
    assert torch.equal(a.model.multi_modal_projector.linear_2.weight, b.model.multi_modal_projector.linear_2.weight)


def test_import_with_separate_stage1_projector_and_local_tower(mllm_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from openeyes.mllm.loading import load_mllm

    orig = tmp_path / "orig"
    assert main(["integrate", "export-original", "--mllm", mllm_dir, "--out", str(orig), "--full"]) == 0
    tower = tmp_path / "my_tower"
    shutil.move(str(orig / "vision_tower"), tower)
    stage1 = tmp_path / "stage1_mm_projector.bin"
    shutil.move(str(orig / "mm_projector.bin"), stage1)
    state = load_file(str(orig / "model.safetensors"))  # an LM-only checkpoint: no tower, no projector
    save_file({k: v for k, v in state.items() if "mm_projector" not in k and "vision_tower" not in k},
              str(orig / "model.safetensors"))
    config = json.loads((orig / "config.json").read_text())
    config["mm_vision_tower"] = "openai/clip-vit-large-patch14-336"  # not reachable: overridden below
    (orig / "config.json").write_text(json.dumps(config))
    back = tmp_path / "back"
    assert main(["integrate", "import-original", "--src", str(orig), "--out", str(back), "--vision-tower", str(tower),
                 "--projector-bin", str(stage1)]) == 0
    a, _, _ = load_mllm(mllm_dir)
    b, _, _ = load_mllm(back)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_import_refuses_missing_image_processor_config(mllm_dir, tmp_path, capsys):
    orig = tmp_path / "orig"
    assert main(["integrate", "export-original", "--mllm", mllm_dir, "--out", str(orig), "--full"]) == 0
    (orig / "vision_tower" / "preprocessor_config.json").unlink()
    assert main(["integrate", "import-original", "--src", str(orig), "--out", str(tmp_path / "b")]) == 2
    assert "preprocessor_config.json" in capsys.readouterr().err


def test_export_original_follows_llava_builder_conventions_field_by_field(mllm_dir, tmp_path):
    """What LLaVA's builder, llava_arch and CLIPVisionTower read (haotian-liu/LLaVA), checked field by field."""
    from safetensors import safe_open
    from transformers import CLIPImageProcessor, CLIPVisionModel

    from openeyes.complete_load import load_complete

    orig = tmp_path / "llava-orig"
    assert main(["integrate", "export-original", "--mllm", mllm_dir, "--out", str(orig), "--full"]) == 0
    assert not (orig / "llava_config.json").exists()
    config = json.loads((orig / "config.json").read_text())
    assert config["model_type"] == "llava_llama" and config["architectures"] == ["LlavaLlamaForCausalLM"]
    assert config["mm_vision_tower"] == "vision_tower" and (orig / config["mm_vision_tower"]).is_dir()  # relative
    assert (config["mm_vision_select_layer"], config["mm_vision_select_feature"], config["mm_projector_type"]) == \
        (-2, "patch", "mlp2x_gelu")
    assert config["mm_hidden_size"] == 64 and config["hidden_size"] == 64  # tower width, LM width
    assert config["image_aspect_ratio"] == "square" and config["mm_patch_merge_type"] == "flat"
    assert config["mm_use_im_start_end"] is False and config["mm_use_im_patch_token"] is False
    assert config["tokenizer_model_max_length"] == config["max_position_embeddings"]
    assert "rope_theta" in config and config["torch_dtype"] == "float32"
    with safe_open(str(orig / "vision_tower" / "model.safetensors"), framework="pt") as handle:
        assert all(key.startswith("vision_model.") for key in handle.keys())  # CLIPVisionModel's 4.x keys
    load_complete(CLIPVisionModel, str(orig / "vision_tower"))  # no missing/unexpected key
    CLIPImageProcessor.from_pretrained(str(orig / "vision_tower"))
    with safe_open(str(orig / "model.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
    assert "model.mm_projector.0.weight" in keys and "lm_head.weight" in keys
    assert not any("vision_tower" in key for key in keys)  # LLaVA delay-loads the tower from mm_vision_tower
    assert json.loads((orig / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"

"""Exports other clients load unchanged: part order, key layout, tokenizer files, dtype, context rule.

The loads under transformers 4.x and lmms-eval run in their own virtualenvs (bench/export_interop.py);
here the project's transformers 5 loads what the export wrote, and the files are checked for the
layout 4.x reads.
"""
import json

import pytest

TEXT_FIRST = [{"role": "user", "content": [{"type": "text", "text": "Is there a red square?"}, {"type": "image"}]}]
IMAGE_FIRST = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is there a red square?"}]}]


def _probe_image():
    from openeyes.integrations.llava.export import probe_image

    return probe_image()


@pytest.fixture(scope="module")
def exported(mllm_dir, tmp_path_factory):
    from openeyes.integrations.llava.export import export_mllm

    return export_mllm(mllm_dir, tmp_path_factory.mktemp("portable") / "e", check=True)


def test_part_order_gives_the_same_prompt_and_answer(mllm_dir, exported):
    from openeyes.integrations.llava.chat import conversation_segments, render_segments
    from openeyes.mllm.local import TransformersMLLM
    from openeyes.mllm.protocol import GenerationRequest

    for directory in (mllm_dir, exported):
        mllm = TransformersMLLM.from_pretrained(directory)
        prompts = [mllm.processor.apply_chat_template(m, add_generation_prompt=True) for m in (TEXT_FIRST, IMAGE_FIRST)]
        assert prompts[0] == prompts[1] == "USER: <image>\nIs there a red square? ASSISTANT:"
        assert mllm.tokenizer.apply_chat_template(TEXT_FIRST, tokenize=False) == prompts[0]
        assert render_segments(conversation_segments(TEXT_FIRST, "</s>")) == prompts[0]
        image = _probe_image()
        answers = mllm.generate([GenerationRequest([image], TEXT_FIRST), GenerationRequest([image], IMAGE_FIRST)],
                                max_new_tokens=8)
        assert answers[0] == answers[1]


def test_export_upgrades_an_order_keeping_template(mllm_dir, tmp_path):
    from openeyes.integrations.llava.chat import CHAT_TEMPLATE, LEGACY_CHAT_TEMPLATES
    from openeyes.integrations.llava.export import export_mllm

    (tmp_path / "src").mkdir()
    source = tmp_path / "src" / "m"
    import shutil

    shutil.copytree(mllm_dir, source)
    (source / "chat_template.jinja").write_text(LEGACY_CHAT_TEMPLATES[0])
    (source / "chat_template.json").unlink()
    config = json.loads((source / "tokenizer_config.json").read_text())
    config["chat_template"] = LEGACY_CHAT_TEMPLATES[0]
    (source / "tokenizer_config.json").write_text(json.dumps(config))
    out = export_mllm(source, tmp_path / "e", check=False)
    assert (out / "chat_template.jinja").read_text() == CHAT_TEMPLATE
    assert json.loads((out / "tokenizer_config.json").read_text())["chat_template"] == CHAT_TEMPLATE


def test_export_keys_and_files_are_the_layout_transformers_4_reads(exported):
    from safetensors import safe_open
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    with safe_open(str(exported / "model.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
    tower = {key for key in keys if key.startswith("vision_tower.")}
    assert tower and all(key.startswith("vision_tower.vision_model.") for key in tower)
    assert "language_model.lm_head.weight" in keys
    assert {key.split(".")[0] for key in keys} == {"language_model", "vision_tower", "multi_modal_projector"}
    assert all(key.startswith(("language_model.model.", "language_model.lm_head.", "vision_tower.vision_model.",
                               "multi_modal_projector.")) for key in keys)
    tokenizer_config = json.loads((exported / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"  # TokenizersBackend is 5.x-only
    assert json.loads((exported / "preprocessor_config.json").read_text())["image_processor_type"] == "CLIPImageProcessor"
    assert "patch_size" in json.loads((exported / "processor_config.json").read_text())
    model, info = LlavaForConditionalGeneration.from_pretrained(str(exported), output_loading_info=True)
    assert not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"])
    processor = AutoProcessor.from_pretrained(str(exported))
    assert processor.tokenizer.padding_side == "left" and processor.image_token == "<image>"


def test_export_dtype_follows_the_source_unless_asked(tmp_path):
    from safetensors import safe_open

    from openeyes.cli import main
    from openeyes.zoo_registry import resolve

    def dtypes(directory):
        with safe_open(str(directory / "model.safetensors"), framework="pt") as handle:
            return {handle.get_slice(key).get_dtype() for key in handle.keys()}

    source = resolve("zoo:tiny-llava")
    assert dtypes(__import__("pathlib").Path(source)) == {"F16"}
    assert main(["integrate", "export", "--mllm", "zoo:tiny-llava", "--out", str(tmp_path / "h")]) == 0
    assert dtypes(tmp_path / "h") == {"F16"}
    assert json.loads((tmp_path / "h" / "config.json").read_text())["torch_dtype"] == "float16"
    assert main(["integrate", "export", "--mllm", "zoo:tiny-llava", "--out", str(tmp_path / "f"), "--dtype", "float32",
                 "--no-check"]) == 0
    assert dtypes(tmp_path / "f") == {"F32"}


def test_loading_weights_that_do_not_fit_is_a_one_line_error(exported, tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    from openeyes.cli import main

    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "openeyes.json").unlink()  # a plain transformers directory (no hashes to trip first)
    state = load_file(str(broken / "model.safetensors"))
    state = {key.replace("vision_tower.vision_model.", "vision_tower.vision_modle."): value for key, value in state.items()}
    save_file(state, str(broken / "model.safetensors"), metadata={"format": "pt"})
    assert main(["integrate", "export", "--mllm", str(broken), "--out", str(tmp_path / "e")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "missing" in error and "unexpected" in error
    assert not (tmp_path / "e").exists()


def test_an_lm_context_too_short_for_the_image_tokens_is_refused(encoder_dirs, tmp_path, capsys):
    from openeyes.cli import main
    from openeyes.integrations.llava.tiny_lm import build_tiny_llama, save_tiny_lm, train_tiny_lm_tokenizer

    tokenizer = train_tiny_lm_tokenizer(["a red circle left of a blue square"] * 5, vocab_size=300)
    short = save_tiny_lm(build_tiny_llama(tokenizer, max_position_embeddings=40), tokenizer, str(tmp_path / "lm"))
    capsys.readouterr()
    # 32 px / patch 8 -> 16 image tokens; 16 + a 32-token prompt > 40 positions
    assert main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", short, "--out", str(tmp_path / "m")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "40 positions" in error and "16 image tokens" in error
    assert not (tmp_path / "m").exists()


def test_export_refuses_a_model_whose_context_is_too_short(mllm_dir, tmp_path, capsys):
    import shutil

    from openeyes.cli import main

    source = tmp_path / "m"
    shutil.copytree(mllm_dir, source)
    config = json.loads((source / "config.json").read_text())
    config["text_config"]["max_position_embeddings"] = 40
    (source / "config.json").write_text(json.dumps(config))
    assert main(["integrate", "export", "--mllm", str(source), "--out", str(tmp_path / "e")]) == 2
    assert "40 positions" in capsys.readouterr().err


@pytest.mark.slow
def test_llava_1_5_shapes_vit_l14_336_and_a_small_llama(caption_tokenizer, tmp_path):
    """LLaVA-1.5's conventions at real tower shape (random weights): layer -2, default strategy, 576 tokens."""
    import torch

    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.errors import UserError
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.assemble import AssembleOptions, assemble
    from openeyes.integrations.llava.export import export_mllm
    from openeyes.integrations.llava.tiny_lm import build_tiny_llama, train_tiny_lm_tokenizer
    from openeyes.integrations.llava.vllm_rules import check_vllm_rules

    torch.manual_seed(0)
    vit_l = build_tiny_clip(caption_tokenizer, image_size=336, patch_size=14, vision_width=1024, vision_layers=24,
                            vision_heads=16, vision_mlp=4096, text_width=32, text_layers=1, embed_dim=768)
    tokenizer = train_tiny_lm_tokenizer(["a red circle left of a blue square"] * 5, vocab_size=300)
    with pytest.raises(UserError, match="512 positions cannot hold 576 image tokens|cannot hold 576"):
        assemble(vit_l, build_tiny_llama(tokenizer, max_position_embeddings=512), tokenizer, AssembleOptions())
    tokenizer = train_tiny_lm_tokenizer(["a red circle left of a blue square"] * 5, vocab_size=300)
    model, processor = assemble(vit_l, build_tiny_llama(tokenizer, max_position_embeddings=1024), tokenizer,
                                AssembleOptions())
    assert (model.config.image_seq_length, model.config.vision_feature_layer) == (576, -2)
    assert model.config.vision_feature_select_strategy == "default" and model.config.projector_hidden_act == "gelu"
    assert tuple(model.model.multi_modal_projector.linear_1.weight.shape) == (64, 1024)
    source = save_mllm(model, processor, tmp_path / "m", name="vit-l", dtype="float16")
    del model
    out = export_mllm(source, tmp_path / "e", check=True)
    assert check_vllm_rules(out) == {}
    inputs = processor(images=[_probe_image()], text=["USER: <image>\nhi ASSISTANT:"], return_tensors="pt")
    assert int((inputs["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<image>")).sum()) == 576


def test_model_card_snippet_runs_as_printed_without_openeyes(exported, tmp_path):
    """The card's Python block, unchanged, in a fresh interpreter of this environment (the .pth start-up hook
    that `make setup` installs stands in for openeyes' CPU-torchvision fix; the snippet never imports openeyes)."""
    import os
    import subprocess
    import sys

    from openeyes._torchvision_compat import install_startup_hook

    readme = (exported / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "openeyes" not in code and "apply_chat_template" in code and "generate(" in code
    assert str(exported) in code
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    install_startup_hook(str(site_dir))
    (tmp_path / "snippet.py").write_text(code)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", f"import site; site.addsitedir({str(site_dir)!r}); "
                           f"exec(open({str(tmp_path / 'snippet.py')!r}).read())"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()  # the model's answer was printed

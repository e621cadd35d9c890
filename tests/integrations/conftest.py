"""Tiny encoders, a tiny Llama and an assembled tiny MLLM for the integration tests (random init)."""
import pytest

import openeyes  # noqa: F401

TEXTS = ["USER: <image>\nWhat color is the moon? ASSISTANT: Blue", "a red circle left of a blue square",
         "Is there a star? Yes No", "two green triangles above a yellow star"] * 5


@pytest.fixture(scope="session")
def caption_tokenizer():
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    return train_caption_tokenizer(TEXTS, vocab_size=400, max_length=16)


def _clip(tokenizer, width=64, layers=2, name="tiny-clip"):
    from openeyes.encoders.tiny import build_tiny_clip

    return build_tiny_clip(tokenizer, image_size=32, patch_size=8, vision_width=width, vision_layers=layers,
                           vision_mlp=2 * width, text_width=32, text_layers=1, embed_dim=24, name=name)


@pytest.fixture(scope="session")
def encoder_dirs(caption_tokenizer, tmp_path_factory):
    """{name: artifact dir}: two CLIPs of width 64 (2 layers), one of width 32, one of 1 layer, one SigLIP."""
    from openeyes.encoders.artifact import save_encoder_artifact
    from openeyes.encoders.tiny import build_tiny_siglip

    root = tmp_path_factory.mktemp("encoders")
    encoders = {"clip": _clip(caption_tokenizer), "clip_b": _clip(caption_tokenizer, name="b"),
                "clip_narrow": _clip(caption_tokenizer, width=32), "clip_shallow": _clip(caption_tokenizer, layers=1),
                "siglip": build_tiny_siglip(
                    caption_tokenizer, image_size=32, patch_size=8, vision_width=64, text_width=32)}
    return {name: str(save_encoder_artifact(enc, root / name, name=name)) for name, enc in encoders.items()}


@pytest.fixture(scope="session")
def lm_dir(tmp_path_factory):
    from openeyes.integrations.llava.tiny_lm import build_tiny_llama, save_tiny_lm, train_tiny_lm_tokenizer

    tokenizer = train_tiny_lm_tokenizer(TEXTS, vocab_size=300)
    return save_tiny_lm(build_tiny_llama(tokenizer), tokenizer, str(tmp_path_factory.mktemp("lm") / "lm"))


@pytest.fixture(scope="session")
def mllm_dir(encoder_dirs, lm_dir, tmp_path_factory):
    from openeyes.cli import main

    out = tmp_path_factory.mktemp("mllm") / "tiny-llava"
    assert main(["integrate", "llava", "--encoder", encoder_dirs["clip"], "--lm", lm_dir, "--out", str(out)]) == 0
    return str(out)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    from openeyes.cli import main

    out = tmp_path_factory.mktemp("world") / "w"
    assert main(["world", "generate", "--out", str(out), "--n", "12", "--size", "32",
                 "--only", "llava_pretrain,llava_instruct"]) == 0
    return str(out)

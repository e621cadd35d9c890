"""A tiny random MLLM (tiny CLIP + tiny Llama, assembled and saved as an artifact) and a small world
export of the four MLLM benchmarks, shared by the runner and lm-eval tests."""
import pytest

import openeyes  # noqa: F401

TEXTS = ["Is there a circle in the image? Yes No", "Answer with the option's letter from the given choices directly.",
         "a red circle left of a blue square", "(A) 1 (B) 2 (C) 3 (D) 4 Please answer Yes or No."] * 5


@pytest.fixture(scope="session")
def tiny_mllm_dir(tmp_path_factory):
    """An ``mllm`` artifact directory: random weights, deterministic under greedy decoding."""
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.assemble import AssembleOptions, assemble
    from openeyes.integrations.llava.tiny_lm import build_tiny_llama, train_tiny_lm_tokenizer

    encoder = build_tiny_clip(train_caption_tokenizer(TEXTS, vocab_size=300, max_length=16), image_size=32,
                              patch_size=8, vision_width=64, vision_mlp=128, text_width=32, text_layers=1, embed_dim=24)
    tokenizer = train_tiny_lm_tokenizer(TEXTS, vocab_size=300)
    model, processor = assemble(encoder, build_tiny_llama(tokenizer), tokenizer, AssembleOptions())
    return str(save_mllm(model, processor, tmp_path_factory.mktemp("mllm") / "tiny-mllm", name="tiny-mllm"))


@pytest.fixture(scope="session")
def tiny_mllm(tiny_mllm_dir):
    """The artifact loaded once (``TransformersMLLM``), for tests that call the Python API."""
    from openeyes.mllm.local import TransformersMLLM

    return TransformersMLLM.from_pretrained(tiny_mllm_dir, batch_size=4)


@pytest.fixture(scope="session")
def world_root(tmp_path_factory):
    """A world export holding mmvp/, pope/, cv_bench/ and naturalbench/ in their real layouts."""
    from openeyes.cli import main

    out = tmp_path_factory.mktemp("world") / "w"
    assert main(["world", "generate", "--out", str(out), "--n", "8", "--size", "32",
                 "--only", "mmvp,pope,cv_bench,naturalbench"]) == 0
    return out

"""The local transformers MLLM backend: batched == one by one (greedy), sampling seeds, stop strings."""
import numpy as np
import pytest
import torch
from PIL import Image

import openeyes  # noqa: F401


@pytest.fixture(scope="module")
def mllm():
    from openeyes.integrations.llava.tiny_lm import random_tiny_llava
    from openeyes.mllm.local import TransformersMLLM

    model, processor = random_tiny_llava()
    return TransformersMLLM(model, processor, batch_size=8)


def _requests(n=6):
    rng = np.random.default_rng(0)
    prompts = ["What color?", "Describe the image in many words please", "hi", "Where is the red circle?", "a b c", "moon"]
    return [(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), prompts[i % 6]) for i in range(n)]


def test_greedy_batched_equals_one_by_one(mllm):
    requests = _requests()
    batched = mllm.generate(requests, max_new_tokens=10)
    single = [mllm.generate([r], max_new_tokens=10)[0] for r in requests]
    assert batched == single and any(batched)


def test_left_padding_and_chat_template(mllm):
    from openeyes.mllm.protocol import as_request

    inputs = mllm.encode([as_request(r) for r in _requests(2)])
    assert (inputs["attention_mask"][:, -1] == 1).all() and (inputs["attention_mask"][:, 0] == 0).any()
    assert mllm.prompt_text(as_request(_requests(1)[0])) == "USER: <image>\nWhat color? ASSISTANT:"


def test_sampling_reproducible_with_seed_and_stop_strings(mllm):
    requests = _requests(2)
    a = mllm.generate(requests, max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    b = mllm.generate(requests, max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    assert a == b
    greedy = mllm.generate(requests[:1], max_new_tokens=10)[0]
    assert len(greedy) >= 2
    stop = greedy[1]
    cut = mllm.generate(requests[:1], max_new_tokens=10, stop=[stop])[0]
    assert cut == greedy[: greedy.index(stop)]


def test_chat_and_text_only_and_bad_params(mllm):
    from openeyes.errors import UserError

    image, prompt = _requests(1)[0]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    assert mllm.chat(messages, images=[image], max_new_tokens=6) == mllm.generate([(image, prompt)], max_new_tokens=6)[0]
    assert isinstance(mllm.generate(["hello"], max_new_tokens=3)[0], str)
    with pytest.raises(UserError):
        mllm.generate([(image, prompt)], max_new_tokens=0)


def test_max_new_tokens_is_the_exact_budget(mllm):
    """With the end token made unreachable every row runs its full budget: the text of budget N is
    exactly the first N greedy tokens, for every row of a left-padded batch."""
    from openeyes.mllm.protocol import as_request

    tokenizer = mllm.tokenizer
    requests = _requests(4)
    eos = tokenizer.eos_token
    tokenizer.eos_token = tokenizer.pad_token  # the random LM (almost) never emits pad
    try:
        inputs = mllm.encode([as_request(r) for r in requests])
        with torch.inference_mode():
            output = mllm.model.generate(**inputs, max_new_tokens=8, do_sample=False,
                                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.pad_token_id)
        new = output[:, inputs["input_ids"].shape[1]:]  # [B, 8]
        assert new.shape == (4, 8)
        for budget in (1, 3, 8):
            expected = tokenizer.batch_decode(new[:, :budget], skip_special_tokens=True)
            assert mllm.generate(requests, max_new_tokens=budget) == expected
    finally:
        tokenizer.eos_token = eos


def test_stop_strings_cut_each_row_of_a_batch(mllm):
    requests = _requests(4)
    greedy = mllm.generate(requests, max_new_tokens=10)
    stop = next(ch for ch in greedy[0][1:] if ch.strip())
    cut = mllm.generate(requests, max_new_tokens=10, stop=[stop, "never-appears"])
    assert cut == [text[: text.index(stop)] if stop in text else text for text in greedy]


def test_sampling_differs_from_greedy_and_by_seed(mllm):
    requests = _requests(4)
    greedy = mllm.generate(requests, max_new_tokens=8)
    sampled = [mllm.generate(requests, max_new_tokens=8, temperature=1.5, seed=seed) for seed in (0, 1)]
    assert sampled[0] != sampled[1] and sampled[0] != greedy


def test_load_mllm_resolves_zoo_names_like_the_cli():
    from openeyes.mllm.loading import load_mllm
    from openeyes.zoo_registry import resolve

    model, processor, card = load_mllm("zoo:tiny-llava")
    assert card["name"] == "tiny-llava" and card["kind"] == "mllm"
    assert model.config.image_seq_length == 64 and model.config.vision_feature_layer == -1
    assert resolve("zoo:tiny-llava").endswith("zoo/tiny-llava")


def test_any_part_order_builds_the_same_prompt(mllm):
    """Text-before-image (OpenAI's documented order) must not move the image after the question."""
    from openeyes.mllm.protocol import GenerationRequest

    image, prompt = _requests(1)[0]
    image_first = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text_first = [{"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "image"}]}]
    expected = "USER: <image>\nWhat color? ASSISTANT:"
    assert mllm.prompt_text(GenerationRequest([image], text_first)) == expected
    assert mllm.prompt_text(GenerationRequest([image], image_first)) == expected
    split = [{"role": "user", "content": [{"type": "text", "text": "What"}, {"type": "image"}, {"type": "text", "text": "color?"}]}]
    assert mllm.prompt_text(GenerationRequest([image], split)) == "USER: <image>\nWhat\ncolor? ASSISTANT:"
    assert mllm.chat(text_first, images=[image], max_new_tokens=6) == mllm.chat(image_first, images=[image], max_new_tokens=6)

"""The in-memory caption tokenizer: special tokens, padding, truncation, offline reload."""
from transformers import AutoTokenizer

from openeyes.encoders.tokenizer import BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, train_caption_tokenizer


def test_special_tokens_wrap_every_caption(caption_tokenizer):
    ids = caption_tokenizer("A RED circle")["input_ids"]
    assert ids[0] == caption_tokenizer.bos_token_id and ids[-1] == caption_tokenizer.eos_token_id
    assert caption_tokenizer.convert_ids_to_tokens([ids[0], ids[-1]]) == [BOS_TOKEN, EOS_TOKEN]
    assert caption_tokenizer.pad_token == PAD_TOKEN
    assert caption_tokenizer.eos_token_id != 2  # keeps CLIP text pooling on the first-eos rule


def test_lowercase_and_padding_and_truncation(caption_tokenizer):
    upper = caption_tokenizer("A Red Circle")["input_ids"]
    lower = caption_tokenizer("a red circle")["input_ids"]
    assert upper == lower
    batch = caption_tokenizer(["a red circle", " ".join(["blue star"] * 40)], padding="max_length",
                              truncation=True, max_length=16, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 16)
    assert batch["input_ids"][1, -1].item() == caption_tokenizer.eos_token_id  # eos survives truncation
    assert batch["attention_mask"][0].sum().item() == len(lower)
    assert (batch["input_ids"][0, len(lower):] == caption_tokenizer.pad_token_id).all()


def test_vocab_is_learned_from_the_captions():
    tokenizer = train_caption_tokenizer(["zebra crossing"] * 20, vocab_size=300, max_length=8)
    assert len(tokenizer("zebra")["input_ids"]) <= 4  # bos + merged word + eos, not 5 bytes
    assert len(tokenizer) <= 300


def test_save_and_reload_offline(caption_tokenizer, tmp_path):
    caption_tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = ["two green triangles above a yellow star", "an empty gray background"]
    kwargs = dict(padding="max_length", truncation=True, max_length=16)
    assert again(text, **kwargs)["input_ids"] == caption_tokenizer(text, **kwargs)["input_ids"]
    assert again.model_max_length == 16
    assert again.decode(again("a blue square")["input_ids"], skip_special_tokens=True).strip() == "a blue square"

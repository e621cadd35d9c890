"""Export an MLLM as a plain transformers Llava directory that vLLM and lmms-eval serve as is.

The directory holds ``config.json``, ``model.safetensors`` (the source's dtype unless asked; keys in
the llava-hf layout that transformers 4.45+ and 5.x both load, see ``portable``),
``generation_config.json``, the processor (tokenizer with ``<image>``, chat template that puts
images first, image processor), a ``README.md`` model card with a runnable example and the
serving/eval lines, and an ``openeyes.json`` card. It is checked against vLLM's
Llava loader rules (``vllm_rules``) and, with ``check``, reloaded offline with the Auto classes
and compared with the in-memory model by greedy generation on a probe image.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from openeyes.errors import UserError

README_TEMPLATE = """---
library_name: transformers
pipeline_tag: image-text-to-text
tags: [llava, openeyes]
---
# {name}

A LLaVA-style MLLM (`LlavaForConditionalGeneration`) made with openeyes.

- vision tower: {vision_model_type}, {image_size}px, patch {patch_size}, width {vision_width}, feature layer {feature_layer}, strategy `{strategy}` ({image_seq_length} image tokens)
- projector: `{projector}` (`multi_modal_projector.linear_1/linear_2`)
- language model: {text_model_type}, width {text_width}, context {context} tokens
- weights: {dtype}, in the llava-hf layout transformers 4.45+ and 5.x both load
- base: {base}

## Use

With transformers (4.45 or later), no openeyes needed:

```python
import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration

model = LlavaForConditionalGeneration.from_pretrained("{path}", torch_dtype=torch.float32)
processor = AutoProcessor.from_pretrained("{path}")
image = Image.new("RGB", ({image_size}, {image_size}), (220, 40, 40))  # or Image.open("photo.jpg")
messages = [{{"role": "user", "content": [{{"type": "image"}}, {{"type": "text", "text": "What is in the image?"}}]}}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
inputs = processor(images=image, text=prompt, return_tensors="pt")
output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
print(processor.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
```

The chat template puts the image before the text whatever the order of the message parts.

Serve with vLLM (OpenAI-compatible API):

```bash
vllm serve {path}
```

Evaluate with lmms-eval:

```bash
lmms-eval --model llava_hf --model_args pretrained={path} --tasks mmvp,pope
```
"""


def probe_image():
    from PIL import Image

    image = Image.new("RGB", (48, 40), (30, 30, 30))
    for x in range(10, 30):
        for y in range(8, 24):
            image.putpixel((x, y), (220, 40, 40))
    return image


def greedy_probe(model: Any, processor: Any, max_new_tokens: int = 12) -> list[int]:
    """Greedy continuation ids of a fixed (image, question) pair."""
    import torch

    from openeyes.mllm.local import TransformersMLLM
    from openeyes.mllm.protocol import as_request

    runner = TransformersMLLM(model, processor, batch_size=1)
    inputs = runner.encode([as_request((probe_image(), "What is in the image?"))])

    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=processor.tokenizer.pad_token_id)
    return output[0, inputs["input_ids"].shape[1]:].tolist()


def write_readme(directory: Path, model: Any, processor: Any, name: str, base: str | None, dtype: str) -> None:
    from openeyes.integrations.llava.assemble import projector_name

    config = model.config
    vision = config.vision_config
    text = README_TEMPLATE.format(
        name=name, vision_model_type=vision.model_type, image_size=vision.image_size, patch_size=vision.patch_size,
        vision_width=vision.hidden_size, feature_layer=config.vision_feature_layer,
        strategy=config.vision_feature_select_strategy, image_seq_length=config.image_seq_length,
        projector=projector_name(config), text_model_type=config.text_config.model_type,
        text_width=config.text_config.hidden_size, base=base or "-", path=str(directory), dtype=dtype,
        context=config.text_config.max_position_embeddings,
    )
    (directory / "README.md").write_text(text)


def export_mllm(source: str | Path, out: str | Path, *, check: bool = True, name: str | None = None,
               dtype: str | None = None) -> Path:
    """Write the serving directory for ``source`` (weights in ``dtype``; default: the source's).

    Raises ``UserError`` when the model breaks a vLLM rule (a linear projector, a context that
    cannot hold the image tokens and a prompt) or, with ``check``, when the reloaded export
    generates differently.
    """
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.assemble import check_context
    from openeyes.integrations.llava.chat import current_template
    from openeyes.integrations.llava.portable import resolve_dtype
    from openeyes.integrations.llava.vllm_rules import require_vllm_compatible
    from openeyes.mllm.loading import load_mllm
    from openeyes.zoo_registry import resolve

    out = Path(out)
    if out.resolve() == Path(source).resolve():
        raise UserError("export --out must differ from --mllm")
    source_dir = Path(resolve(str(source)))
    dtype = resolve_dtype(dtype, source_dir)
    model, processor, card = load_mllm(source)
    if model.config.projector_hidden_act == "linear":
        raise UserError("this MLLM has a linear projector, which vLLM's Llava loader cannot serve; "
                        "export needs an mlp2x_gelu projector")
    check_context(model.config.text_config, model.config.image_seq_length)
    processor.chat_template = current_template(processor.chat_template)  # images first whatever the part order
    processor.tokenizer.chat_template = current_template(processor.tokenizer.chat_template)
    name = name or card.get("name") or out.name
    save_mllm(model, processor, out, name=name, base=card.get("name") or str(source),
              config=card.get("config"), data=card.get("data"), seed=card.get("seed"), steps=card.get("steps"),
              metrics=card.get("metrics"), dtype=dtype, exported_from=str(source))
    write_readme(out, model, processor, name, card.get("base"), dtype)
    require_vllm_compatible(out)
    if check:
        verify_roundtrip(model, processor, out, dtype)
    return out


def verify_roundtrip(model: Any, processor: Any, directory: Path, dtype: str = "float32") -> None:
    """Reload ``directory`` with the Auto classes (offline, every weight found) and compare greedy generation.

    The source runs with its weights rounded to the export's ``dtype``; both run in float32.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from openeyes.complete_load import load_complete

    reloaded = load_complete(AutoModelForImageTextToText, str(directory), dtype=torch.float32).eval()
    reloaded_processor = AutoProcessor.from_pretrained(str(directory))
    rounded = model.to(getattr(torch, dtype)).to(torch.float32)
    expected, actual = greedy_probe(rounded, processor), greedy_probe(reloaded, reloaded_processor)
    if expected != actual:
        raise UserError(f"exported model at {directory} generates {actual} but the source generates {expected}")

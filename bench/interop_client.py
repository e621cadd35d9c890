"""One client of an exported MLLM, run inside that client's own virtualenv (no openeyes there).

    python interop_client.py transformers EXPORT ITEMS.jsonl OUT.json
    python interop_client.py lmms_eval EXPORT ITEMS.jsonl OUT.json
    python interop_client.py snippet EXPORT README.md OUT.json
    python interop_client.py llava_original EXPORT_ORIGINAL ITEMS.jsonl OUT.json MAX_NEW LLAVA_SRC

``transformers``: ``LlavaForConditionalGeneration.from_pretrained`` (loading info kept) +
``AutoProcessor``; each item's message goes through the processor's chat template in the part
order the item names, then greedy generation. ``lmms_eval``: lmms-eval's own ``llava_hf`` model
class answers the items through its ``generate_until``. ``snippet``: the model card's Python
block, executed exactly as printed. ``llava_original``: the original LLaVA code base (a checkout
of haotian-liu/LLaVA on ``sys.path``, transformers 4.37.2) loads ``export-original --full`` with
its own ``load_pretrained_model`` from the export's folder (its ``mm_vision_tower`` is relative)
and answers the items with its ``tokenizer_image_token``/``process_images`` (the openeyes prompt
format; LLaVA's builder loads fp16, cast to fp32 here as openeyes runs on CPU). Every mode also compares the loaded weights with the
tensors stored in ``model.safetensors`` (names mapped by the module tree, values equal).
Writes one JSON object to OUT.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def stored_tensors(export: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(export / "model.safetensors"))


def weights_match(model, export: Path) -> dict:
    """How many stored tensors equal a parameter of ``model`` (by value, any dtype), and which do not."""
    import torch

    params = [p.detach().float() for p in model.state_dict().values()]
    by_shape: dict = {}
    for tensor in params:
        by_shape.setdefault(tuple(tensor.shape), []).append(tensor)
    unmatched = []
    stored = stored_tensors(export)
    for key, value in stored.items():
        candidates = by_shape.get(tuple(value.shape), [])
        if not any(torch.equal(value.float(), candidate) for candidate in candidates):
            unmatched.append(key)
    return {"stored": len(stored), "unmatched": len(unmatched), "unmatched_example": unmatched[:2]}


def messages_for(item: dict) -> list:
    parts = [{"type": "image"}, {"type": "text", "text": item["prompt"]}]
    return [{"role": "user", "content": parts if item["order"] == "image_first" else parts[::-1]}]


def run_transformers(export: Path, items: list, max_new_tokens: int) -> dict:
    import torch
    import transformers
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model, info = LlavaForConditionalGeneration.from_pretrained(str(export), output_loading_info=True,
                                                                torch_dtype=torch.float32)
    model.eval()
    processor = AutoProcessor.from_pretrained(str(export))
    answers = {}
    for item in items:
        prompt = processor.apply_chat_template(messages_for(item), add_generation_prompt=True)
        image = Image.open(item["image"]).convert("RGB")
        inputs = processor(images=image, text=prompt, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        answers[item["key"]] = processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:],
                                                          skip_special_tokens=True)
    return {"version": transformers.__version__, "tokenizer_class": type(processor.tokenizer).__name__,
            "missing_keys": len(info["missing_keys"]), "unexpected_keys": len(info["unexpected_keys"]),
            "mismatched_keys": len(info["mismatched_keys"]), "weights": weights_match(model, export),
            "answers": answers}


_KEEP: list = []  # the compat module's globals hold the torch.library.Library: it must outlive the call


def fix_cpu_torchvision(compat_file: str) -> None:
    """lmms-eval pulls the CUDA-only torchvision next to CPU torch: define its two op schemas first."""
    import runpy

    namespace = runpy.run_path(compat_file)
    _KEEP.append(namespace)
    namespace["define_missing_schemas"]()


def run_lmms_eval(export: Path, items: list, max_new_tokens: int) -> dict:
    import importlib.metadata

    from PIL import Image
    from lmms_eval.api.instance import Instance
    from lmms_eval.models.simple.llava_hf import LlavaHf

    lm = LlavaHf(pretrained=str(export), device="cpu", device_map="cpu", batch_size=1, dtype="float32")
    docs = {index: item for index, item in enumerate(items)}
    lm.task_dict = {"interop": {"test": docs}}

    def visual(doc):
        return [Image.open(doc["image"]).convert("RGB")]

    requests = [Instance(request_type="generate_until",
                         arguments=(item["prompt"], {"max_new_tokens": max_new_tokens, "temperature": 0, "do_sample": False},
                                    visual, index, "interop", "test"),
                         idx=0, metadata={"task": "interop", "doc_id": index, "repeats": 1})
                for index, item in docs.items()]
    outputs = lm.generate_until(requests)
    return {"version": importlib.metadata.version("lmms-eval"), "transformers": importlib.metadata.version("transformers"),
            "weights": weights_match(lm.model, export),
            "answers": {item["key"]: text for item, text in zip(items, outputs)}}


def run_llava_original(export: Path, items: list, max_new_tokens: int, llava_src: str) -> dict:
    import os

    import torch
    import transformers
    from PIL import Image

    sys.path.insert(0, llava_src)
    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.mm_utils import process_images, tokenizer_image_token
    from llava.model.builder import load_pretrained_model

    os.chdir(export)  # LLaVA resolves a relative mm_vision_tower from its working directory
    tokenizer, model, image_processor, _ = load_pretrained_model(str(export), None, export.name, device="cpu",
                                                                 device_map="cpu")
    model = model.float().eval()
    answers = {}
    for item in items:
        prompt = f"USER: <image>\n{item['prompt']} ASSISTANT:"
        ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt").unsqueeze(0)
        image = Image.open(item["image"]).convert("RGB")
        pixels = process_images([image], image_processor, model.config).to(torch.float32)
        with torch.inference_mode():
            output = model.generate(ids, images=pixels, image_sizes=[image.size], do_sample=False,
                                    max_new_tokens=max_new_tokens, use_cache=True)
        answers[item["key"]] = tokenizer.decode(output[0], skip_special_tokens=True)
    tower = model.get_model().get_vision_tower().vision_tower
    return {"version": transformers.__version__, "tokenizer_class": type(tokenizer).__name__,
            "weights": weights_match_original(model, tower, export), "answers": answers}


def weights_match_original(model, tower, export: Path) -> dict:
    """Stored tensors of the full checkpoint and of vision_tower/ found among LLaVA's loaded weights."""
    import torch

    loaded = [p.detach().float() for p in list(model.state_dict().values()) + list(tower.state_dict().values())]
    stored = {**stored_tensors(export), **{f"tower/{k}": v for k, v in stored_tensors(export / "vision_tower").items()}}
    unmatched = [key for key, value in stored.items()
                 if not any(value.shape == p.shape and torch.equal(value.float(), p) for p in loaded)]
    return {"stored": len(stored), "unmatched": len(unmatched), "unmatched_example": unmatched[:2]}


def run_snippet(export: Path, readme: Path) -> dict:
    """The card's first ```python block, executed as printed (its printed answer captured)."""
    import contextlib
    import io

    text = readme.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(readme), "exec"), {"__name__": "__main__"})
    return {"ran": True, "printed": printed.getvalue().strip()}


def main(argv: list[str]) -> int:
    mode, export, source, out = argv[:4]
    max_new_tokens = int(argv[4]) if len(argv) > 4 else 32
    if len(argv) > 5 and mode == "lmms_eval":
        fix_cpu_torchvision(argv[5])
    export = Path(export)
    started = time.perf_counter()
    if mode == "snippet":
        result = run_snippet(export, Path(source))
    else:
        items = [json.loads(line) for line in Path(source).read_text().splitlines() if line.strip()]
        if mode == "llava_original":
            result = run_llava_original(export, items, max_new_tokens, argv[5])
        else:
            result = (run_transformers if mode == "transformers" else run_lmms_eval)(export, items, max_new_tokens)
    result["seconds"] = round(time.perf_counter() - started, 1)
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The local transformers backend of the ``MLLM`` protocol: batched generation over (image, prompt) pairs.

Prompts go through the processor's chat template (``add_generation_prompt``), batches are
padded on the LEFT (so every row's last prompt token sits at the end and generation continues
from it), and decoding is greedy (``temperature == 0``) or sampled (temperature, top_p, seed).
Stop strings end a row early (a stopping criterion) and are cut from its text. Greedy output
does not depend on batching (tested). ``generate_completions`` also reports each row's prompt and
completion token counts and why it ended (``protocol.Completion``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from openeyes.mllm.protocol import Completion, GenerationRequest, SamplingParams, as_request, cut_at_stop, images_first


class _StopOnStrings:
    """Stopping criterion: a row is done once its decoded new tokens contain a stop string."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_length: int):
        self.tokenizer = tokenizer
        self.stop = [marker for marker in stop if marker]
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length:], skip_special_tokens=True)
        done = [any(marker in text for marker in self.stop) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # [B]


class TransformersMLLM:
    """``MLLM`` over an in-memory ``LlavaForConditionalGeneration`` and its processor."""

    def __init__(self, model: Any, processor: Any, *, name: str = "mllm", batch_size: int = 8):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.name = name
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, source: str | Path, *, device: str = "cpu", dtype: Any = None, batch_size: int = 8,
                        name: str | None = None) -> "TransformersMLLM":
        from openeyes.mllm.loading import load_mllm

        model, processor, card = load_mllm(source, device=device, dtype=dtype)
        return cls(model, processor, name=name or card.get("name") or Path(str(source)).name, batch_size=batch_size)

    # -- the protocol --------------------------------------------------------------------------
    def generate(self, requests: Sequence[Any], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None,
                 batch_size: int | None = None) -> list[str]:
        params = SamplingParams(max_new_tokens, temperature, top_p, list(stop or []), seed)
        return [answer.text for answer in self.generate_completions(requests, params, batch_size=batch_size)]

    def generate_completions(self, requests: Sequence[Any], params: SamplingParams, *, batch_size: int | None = None) -> list[Completion]:
        """``generate`` with token counts and finish reasons."""
        params.validate()
        normalized = [as_request(item) for item in requests]
        size = batch_size or self.batch_size
        outputs: list[Completion] = []
        for start in range(0, len(normalized), size):
            outputs.extend(self._generate_batch(normalized[start:start + size], params))
        return outputs

    def chat(self, messages: list[dict[str, Any]], images: Sequence[Any] = (), **sampling: Any) -> str:
        return self.generate([GenerationRequest(list(images), messages)], **sampling)[0]

    # -- internals -----------------------------------------------------------------------------
    def prompt_text(self, request: GenerationRequest) -> str:
        """The chat-templated prompt (ends where the assistant's reply starts); images before text in each message."""
        return self.processor.apply_chat_template(images_first(request.messages), add_generation_prompt=True, tokenize=False)

    def encode(self, batch: list[GenerationRequest]) -> dict[str, torch.Tensor]:
        """Left-padded ``input_ids``/``attention_mask`` [B, L] and ``pixel_values`` [N_images, 3, H, W]."""
        texts = [self.prompt_text(request) for request in batch]
        images = [image for request in batch for image in request.images]
        inputs = self.processor(images=images or None, text=texts, padding=True, return_tensors="pt")
        device = self.model.device
        encoded = {key: value.to(device) for key, value in inputs.items() if isinstance(value, torch.Tensor)}
        if "pixel_values" in encoded:
            encoded["pixel_values"] = encoded["pixel_values"].to(self.model.dtype)
        return encoded

    def generation_options(self, params: SamplingParams, prompt_length: int) -> dict[str, Any]:
        """``model.generate`` keyword arguments for ``params`` (prompts padded to ``prompt_length``)."""
        options: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        if params.temperature > 0:
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            from transformers import StoppingCriteriaList

            options["stopping_criteria"] = StoppingCriteriaList([_StopOnStrings(self.tokenizer, params.stop, prompt_length)])
        return options

    def completions(self, inputs: dict[str, torch.Tensor], output: torch.Tensor, params: SamplingParams) -> list[Completion]:
        """Texts and token accounting of ``output`` [B, L + new] for the prompts ``inputs`` [B, L]."""
        prompt_length = inputs["input_ids"].shape[1]
        new = output[:, prompt_length:]  # [B, new]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        ends = {token for token in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if token is not None}
        answers = []
        for row, text in enumerate(texts):
            tokens = new[row].tolist()
            first_end = next((k for k, token in enumerate(tokens) if token in ends), None)
            cut = cut_at_stop(text, params.stop)
            if first_end is not None:  # ended by eos (or padded after a stop string)
                produced = first_end + int(tokens[first_end] == self.tokenizer.eos_token_id)
            else:
                produced = len(tokens)
            natural_end = first_end is not None or len(cut) < len(text)
            finish = "stop" if natural_end or produced < params.max_new_tokens else "length"
            answers.append(Completion(cut, int(inputs["attention_mask"][row].sum()), produced, finish))
        return answers

    @torch.inference_mode()
    def _generate_batch(self, batch: list[GenerationRequest], params: SamplingParams) -> list[Completion]:
        inputs = self.encode(batch)
        options = self.generation_options(params, inputs["input_ids"].shape[1])
        with torch.random.fork_rng(devices=[]):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self.model.generate(**inputs, **options)  # [B, L + new]
        return self.completions(inputs, output, params)

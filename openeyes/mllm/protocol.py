"""The small ``MLLM`` protocol that evaluation and serving speak, and how requests are written.

A request is an image (or several, or none) plus a prompt string or a chat-message list:

    mllm.generate([(image, "What color is the circle?"), ([img1, img2], messages)], max_new_tokens=16)

Messages use the transformers/OpenAI shape ``[{"role": "user"|"assistant"|"system", "content":
str | [{"type": "image"}, {"type": "text", "text": ...}]}]``; a plain prompt becomes one user
message with the images first (unless it already holds ``<image>`` markers). Content parts may
come in any order (OpenAI's documentation puts the text first); ``images_first`` rewrites each
message as its images, then its text, which is the layout the llava-1.5 template was trained
on, so every part order builds the same prompt. Backends:
``openeyes.mllm.local.TransformersMLLM`` (in process); an OpenAI-compatible HTTP backend
maps the same requests to ``/v1/chat/completions`` (image parts as data URIs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from openeyes.errors import UserError

IMAGE_MARKER = "<image>"


@dataclass
class SamplingParams:
    """How to decode; greedy when ``temperature`` is 0."""

    max_new_tokens: int = 64  # generated tokens at most per request
    temperature: float = 0.0  # 0: greedy; > 0: sample from softmax(logits / temperature)
    top_p: float = 1.0  # nucleus sampling mass (sampling only)
    stop: list[str] = field(default_factory=list)  # cut the output before the first of these strings
    seed: int | None = None  # seeds sampling (a batch is reproducible with the same seed and batch)

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise UserError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass
class Completion:
    """One generated answer with its token accounting (what OpenAI's ``usage`` and ``finish_reason`` report)."""

    text: str  # the answer, cut before any stop string
    prompt_tokens: int = 0  # tokens the model read, image tokens included
    completion_tokens: int = 0  # tokens the model generated (an end-of-sequence token included)
    finish_reason: str = "stop"  # "stop": end of sequence or a stop string; "length": max_new_tokens reached


@dataclass
class GenerationRequest:
    """One conversation to continue: its images (in ``<image>`` order) and its messages."""

    images: list[Any]  # PIL images (or anything the backend accepts: paths, data URIs)
    messages: list[dict[str, Any]]  # chat messages; the last one is the user's


def as_request(item: Any) -> GenerationRequest:
    """``GenerationRequest`` | ``(image(s), prompt or messages)`` | a prompt string (no image)."""
    if isinstance(item, GenerationRequest):
        return item
    if isinstance(item, str):
        return GenerationRequest([], [{"role": "user", "content": item}])
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise UserError(f"a generation request is (image(s), prompt or messages); got {type(item).__name__}")
    images, query = item
    images = [] if images is None else list(images) if isinstance(images, (list, tuple)) else [images]
    if isinstance(query, str):
        if IMAGE_MARKER in query:
            if query.count(IMAGE_MARKER) != len(images):
                raise UserError(f"the prompt has {query.count(IMAGE_MARKER)} {IMAGE_MARKER} markers for {len(images)} images")
            return GenerationRequest(images, [{"role": "user", "content": query}])
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": query}]
        return GenerationRequest(images, [{"role": "user", "content": content}])
    if isinstance(query, list) and all(isinstance(m, dict) and "role" in m for m in query):
        return GenerationRequest(images, query)
    raise UserError("the second item of a request must be a prompt string or a list of chat messages")


def images_first(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with each list content reordered: its image parts (in order), then one text part.

    Text parts are joined with newlines; a message without images is only merged. String
    contents are kept as they are. The order of images across the conversation is unchanged,
    so ``GenerationRequest.images`` still matches."""
    ordered = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or content is None:
            ordered.append(message)
            continue
        images = [part for part in content if part.get("type") == "image"]
        texts = [part["text"] for part in content if part.get("type") == "text" and part.get("text")]
        parts = images + ([{"type": "text", "text": "\n".join(texts)}] if texts else [])
        ordered.append({**message, "content": parts})
    return ordered


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest stop string."""
    cut = len(text)
    for marker in stop:
        if marker:
            found = text.find(marker)
            if found != -1:
                cut = min(cut, found)
    return text[:cut]


@runtime_checkable
class MLLM(Protocol):
    """What eval and serving need from a multimodal LM."""

    name: str

    def generate(self, requests: Sequence[Any], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> list[str]:
        """One completion per request (same order); requests as accepted by ``as_request``."""
        ...

    def chat(self, messages: list[dict[str, Any]], images: Sequence[Any] = (), **sampling: Any) -> str:
        """Continue one conversation."""
        ...

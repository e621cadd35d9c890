"""OpenAI-compatible routes: ``/v1/models``, ``/v1/embeddings``, ``/v1/chat/completions``.

``/v1/embeddings`` embeds each ``input`` string: a ``data:image/...;base64,`` URI is embedded
as an image, anything else as text (``encoding_format`` float or base64, as the OpenAI client
asks by default). ``/v1/chat/completions`` takes messages whose content parts are ``text``
and ``image_url`` (data URIs, or allow-listed URLs), and answers plain or as SSE chunks
(``stream: true``) ending with ``data: [DONE]``.
"""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import numpy as np
from fastapi import FastAPI

from openeyes.serving import schemas
from openeyes.serving.api import AppState, bounded, check_prompt_tokens, decode_images, off_loop, stream_job
from openeyes.serving.errors import ApiError
from openeyes.serving.limits import check_image_count, check_texts, image_from_string
from openeyes.serving.metrics import ITEMS


def to_generation_job(runtime: Any, body: schemas.ChatCompletionRequest):
    """OpenAI messages -> a ``GenerationJob`` (images in order of appearance, ``{"type": "image"}`` parts)."""
    from openeyes.mllm.protocol import GenerationRequest
    from openeyes.serving.runtime import GenerationJob

    if not body.messages:
        raise ApiError(400, "'messages' must hold at least one message", param="messages")
    images, messages, texts = [], [], []
    for i, message in enumerate(body.messages):
        if isinstance(message.content, str):
            texts.append(message.content)
            messages.append({"role": message.role, "content": message.content})
            continue
        parts = []
        for j, part in enumerate(message.content):
            where = f"messages[{i}].content[{j}]"
            if part.type == "text":
                if part.text is None:
                    raise ApiError(400, f"{where} is a text part without 'text'", param=where)
                texts.append(part.text)
                parts.append({"type": "text", "text": part.text})
            else:
                if part.image_url is None:
                    raise ApiError(400, f"{where} is an image_url part without 'image_url'", param=where)
                if message.role != "user":
                    raise ApiError(400, f"{where}: images are accepted in user messages only", param=where)
                images.append(image_from_string(part.image_url.url, runtime.limits, f"{where}.image_url.url"))
                parts.append({"type": "image"})
        messages.append({"role": message.role, "content": parts})
    if messages[-1]["role"] != "user":
        raise ApiError(400, "the last message must be the user's", param="messages")
    if images:
        check_image_count(len(images), runtime.limits, "messages")
    if texts:
        check_texts([t for t in texts if t.strip()] or [""], runtime.limits, "messages")
    max_tokens = body.max_completion_tokens or body.max_tokens or 64
    if max_tokens > runtime.limits.max_new_tokens:
        raise ApiError(422, f"max_tokens is {max_tokens}; at most {runtime.limits.max_new_tokens}", param="max_tokens")
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return GenerationJob(GenerationRequest(images, messages), max_new_tokens=max_tokens, temperature=body.temperature,
                         top_p=body.top_p, stop=stop, seed=body.seed)


def check_no_image_placeholder(body: schemas.ChatCompletionRequest) -> None:
    """Message text may not hold the image placeholder: images come as ``image_url`` parts only
    (a literal ``<image>`` would be taken for an image slot with no image behind it)."""
    from openeyes.mllm.protocol import IMAGE_MARKER

    for i, message in enumerate(body.messages):
        parts = [message.content] if isinstance(message.content, str) else [p.text or "" for p in message.content]
        if any(IMAGE_MARKER in text for text in parts):
            raise ApiError(400, f"messages[{i}] holds the literal image placeholder {IMAGE_MARKER!r} in its text; "
                                f"send images as image_url parts", param=f"messages[{i}].content")


def add_openai_routes(app: FastAPI, state: AppState) -> None:
    @app.get("/v1/models", tags=["openai"])
    async def models():
        runtime = state.require()
        # the chat model first: OpenAI clients that take the first listed model then chat with the MLLM
        served = ([runtime.mllm.name] if runtime.mllm is not None else []) + [runtime.encoder.name]
        return {"object": "list", "data": [{"id": name, "object": "model", "created": int(state.started), "owned_by": "openeyes"}
                                           for name in served]}

    @app.post("/v1/embeddings", tags=["openai"])
    async def embeddings(body: schemas.OpenAIEmbeddingsRequest):
        runtime = state.require()
        inputs = [body.input] if isinstance(body.input, str) else list(body.input)
        if body.dimensions is not None and body.dimensions != runtime.encoder.dim:
            raise ApiError(400, f"dimensions must be {runtime.encoder.dim} (this encoder's width) or omitted", param="dimensions")
        if not inputs:
            raise ApiError(400, "'input' must hold at least one item", param="input")
        image_rows = [i for i, x in enumerate(inputs) if x.startswith("data:")]
        text_rows = [i for i, x in enumerate(inputs) if not x.startswith("data:")]
        vectors: list[Any] = [None] * len(inputs)
        if image_rows:
            images = await decode_images(runtime, [inputs[i] for i in image_rows], "input", [f"input[{i}]" for i in image_rows])
            for i, row in zip(image_rows, await bounded(runtime, runtime.embed_images(images))):
                vectors[i] = row
        if text_rows:
            texts = check_texts([inputs[i] for i in text_rows], runtime.limits, "input")
            for i, row in zip(text_rows, await bounded(runtime, runtime.embed_texts(texts))):
                vectors[i] = row
        ITEMS.labels("image").inc(len(image_rows))
        ITEMS.labels("text").inc(len(text_rows))
        data = []
        for i, vector in enumerate(vectors):
            vector = np.asarray(vector, dtype=np.float32)
            encoded = base64.b64encode(vector.tobytes()).decode() if body.encoding_format == "base64" else vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(inputs[i].split()) for i in text_rows)
        return {"object": "list", "data": data, "model": runtime.encoder.name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @app.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(body: schemas.ChatCompletionRequest):
        runtime = state.require()
        mllm = runtime.require_mllm()
        check_no_image_placeholder(body)
        job = await off_loop(lambda: check_prompt_tokens(runtime, to_generation_job(runtime, body), "messages"))
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if body.stream:
            def chunk(piece: str | None) -> dict:
                delta = {"content": piece} if piece is not None else {}
                return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": mllm.name,
                        "choices": [{"index": 0, "delta": {"role": "assistant", **delta} if piece is not None else {},
                                     "finish_reason": None if piece is not None else "stop"}]}

            return await stream_job(runtime, job, chunk)
        text = await bounded(runtime, runtime.generate(job))
        ITEMS.labels("generation").inc()
        completion_tokens = mllm.count_tokens(text)
        finish = "length" if completion_tokens >= job.max_new_tokens else "stop"
        return {"id": completion_id, "object": "chat.completion", "created": created, "model": mllm.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 0, "completion_tokens": completion_tokens, "total_tokens": completion_tokens}}

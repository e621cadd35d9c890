"""OpenAI-compatible routes: ``/v1/models`` (+ ``/v1/models/{id}``), ``/v1/embeddings``, ``/v1/chat/completions``.

``/v1/embeddings`` embeds each ``input`` string: a ``data:image/...;base64,`` URI is embedded
as an image, anything else as text (``encoding_format`` float or base64, as the OpenAI client
asks by default). ``/v1/chat/completions`` takes messages whose content parts are ``text``
and ``image_url`` (data URIs, or allow-listed URLs) in any order, and answers plain or as SSE
chunks (``stream: true``; ``stream_options.include_usage`` adds a last chunk with ``usage``)
ending with ``data: [DONE]``. ``usage`` counts the model's own tokens (image tokens included);
``finish_reason`` is ``length`` when ``max_tokens`` cut the answer, else ``stop``.

A ``model`` that is not served is a 404 (``code: model_not_found``). Request fields stock
clients send are accepted; the features this server does not have (tools, logprobs, n > 1,
JSON response formats, penalties, logit biases, token-id embedding input) are a 400 naming the
field (``code: unsupported_parameter``), never silently ignored.
"""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any, Callable

import numpy as np
from fastapi import FastAPI

from openeyes.serving import schemas
from openeyes.serving.api import STREAMED, AppState, bounded, check_prompt_tokens, decode_images, off_loop, stream_job
from openeyes.serving.errors import ApiError
from openeyes.serving.fast_json import vector_response
from openeyes.serving.limits import check_image_count, check_texts, image_from_string
from openeyes.serving.metrics import ITEMS

UNSUPPORTED = "unsupported_parameter"

MAX_STOP_SEQUENCES = 4  # as OpenAI: each stop string is searched for after every generated piece
MAX_STOP_CHARS = 256


def served_models(runtime: Any) -> list[str]:
    """Model ids: the chat model first (clients that take the first listed model then chat with it)."""
    return ([runtime.mllm.name] if runtime.mllm is not None else []) + [runtime.encoder.name]


def model_card(state: AppState, name: str) -> dict:
    return {"id": name, "object": "model", "created": int(state.started), "owned_by": "openeyes"}


def check_model(runtime: Any, requested: str | None, serving: str, purpose: str) -> None:
    """404 ``model_not_found`` for an id this server does not serve; 400 for a served model of the other kind."""
    if requested is None or requested == serving:
        return
    if requested in served_models(runtime):
        raise ApiError(400, f"model {requested!r} does not serve {purpose}; use {serving!r}", param="model",
                       code="model_not_supported")
    raise ApiError(404, f"The model {requested!r} does not exist on this server; served: {served_models(runtime)}",
                   param="model", code="model_not_found")


def refuse(field: str, why: str) -> ApiError:
    return ApiError(400, f"'{field}' {why}", param=field, code=UNSUPPORTED)


def check_chat_features(body: schemas.ChatCompletionRequest) -> None:
    """A 400 for every requested feature this server does not have (defaults pass)."""
    if body.tools or body.functions:
        name = "tools" if body.tools else "functions"
        raise refuse(name, "is not supported: the served models do not call tools; omit it")
    for name in ("tool_choice", "function_call"):
        if getattr(body, name) not in (None, "none"):
            raise refuse(name, "is not supported (no tools); omit it or send 'none'")
    if body.logprobs:
        raise refuse("logprobs", "is not supported by this server; omit it or send false")
    if body.top_logprobs:
        raise refuse("top_logprobs", "is not supported by this server (it needs logprobs); omit it")
    if (body.n or 1) > 1:
        raise refuse("n", "must be 1: this server returns one choice per request")
    if body.response_format is not None and body.response_format.type != "text":
        raise refuse("response_format", f"type {body.response_format.type!r} is not supported; only 'text'")
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(body, name):
            raise refuse(name, "is not supported by this server; omit it or send 0")
    if body.logit_bias:
        raise refuse("logit_bias", "is not supported by this server; omit it or send {}")
    if body.stream_options is not None and not body.stream:
        raise ApiError(400, "'stream_options' is only allowed with 'stream': true", param="stream_options")


def to_generation_job(runtime: Any, body: schemas.ChatCompletionRequest):
    """OpenAI messages -> a ``GenerationJob`` (images in order of appearance, ``{"type": "image"}`` parts)."""
    from openeyes.mllm.protocol import GenerationRequest
    from openeyes.serving.runtime import GenerationJob

    if not body.messages:
        raise ApiError(400, "'messages' must hold at least one message", param="messages")
    images, messages, texts = [], [], []
    for i, message in enumerate(body.messages):
        role = "system" if message.role == "developer" else message.role
        if isinstance(message.content, str):
            texts.append(message.content)
            messages.append({"role": role, "content": message.content})
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
                if role != "user":
                    raise ApiError(400, f"{where}: images are accepted in user messages only", param=where)
                images.append(image_from_string(part.image_url.url, runtime.limits, f"{where}.image_url.url"))
                parts.append({"type": "image"})
        messages.append({"role": role, "content": parts})
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
    if len(stop) > MAX_STOP_SEQUENCES or any(len(marker) > MAX_STOP_CHARS for marker in stop):
        raise ApiError(400, f"stop takes at most {MAX_STOP_SEQUENCES} sequences of at most {MAX_STOP_CHARS} characters",
                       param="stop")
    temperature = 0.0 if body.temperature is None else body.temperature
    top_p = 1.0 if body.top_p is None else body.top_p
    return GenerationJob(GenerationRequest(images, messages), max_new_tokens=max_tokens, temperature=temperature,
                         top_p=top_p, stop=stop, seed=body.seed)


def usage_of(completion: Any) -> dict:
    return {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens}


def chunk_shaper(completion_id: str, created: int, model: str, include_usage: bool) -> Callable[[Any], list[dict]]:
    """``item -> chunks``: a text piece becomes a content delta (the first also carries the role);
    the final ``Completion`` becomes the chunk with ``finish_reason`` (and the usage chunk when asked)."""
    opened = [False]

    def chunk(delta: dict, finish: str | None = None) -> dict:
        if not opened[0]:
            delta, opened[0] = {"role": "assistant", **delta}, True
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if include_usage:
            payload["usage"] = None
        return payload

    def shape(item: Any) -> list[dict]:
        if isinstance(item, str):
            return [chunk({"content": item})]
        chunks = [chunk({}, item.finish_reason)]
        if include_usage:
            chunks.append({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                           "choices": [], "usage": usage_of(item)})
        return chunks

    return shape


def embedding_inputs(body: schemas.OpenAIEmbeddingsRequest) -> list[str]:
    if isinstance(body.input, str):
        return [body.input]
    inputs = list(body.input)
    if any(not isinstance(x, str) for x in inputs):
        raise ApiError(400, "'input' as token ids is not supported: this encoder has its own tokenizer, so send the "
                            "text itself (LangChain's OpenAIEmbeddings: check_embedding_ctx_length=False)",
                       param="input", code=UNSUPPORTED)
    if not inputs:
        raise ApiError(400, "'input' must hold at least one item", param="input")
    return inputs


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
        return {"object": "list", "data": [model_card(state, name) for name in served_models(runtime)]}

    @app.get("/v1/models/{model_id:path}", tags=["openai"])
    async def model(model_id: str):
        runtime = state.require()
        if model_id not in served_models(runtime):
            raise ApiError(404, f"The model {model_id!r} does not exist on this server", param="model", code="model_not_found")
        return model_card(state, model_id)

    @app.post("/v1/embeddings", tags=["openai"])
    async def embeddings(body: schemas.OpenAIEmbeddingsRequest):
        runtime = state.require()
        check_model(runtime, body.model, runtime.encoder.name, "embeddings")
        inputs = embedding_inputs(body)
        if body.dimensions is not None and body.dimensions != runtime.encoder.dim:
            raise ApiError(400, f"dimensions must be {runtime.encoder.dim} (this encoder's width) or omitted: the encoder "
                                "was not trained for shortened embeddings", param="dimensions", code=UNSUPPORTED)
        image_rows = [i for i, x in enumerate(inputs) if x.startswith("data:")]
        text_rows = [i for i, x in enumerate(inputs) if not x.startswith("data:")]
        vectors: list[Any] = [None] * len(inputs)
        tokens = 0
        if image_rows:
            images = await decode_images(runtime, [inputs[i] for i in image_rows], "input", [f"input[{i}]" for i in image_rows])
            for i, row in zip(image_rows, await bounded(runtime, runtime.embed_images(images))):
                vectors[i] = row
        if text_rows:
            texts = check_texts([inputs[i] for i in text_rows], runtime.limits, "input")
            for i, row in zip(text_rows, await bounded(runtime, runtime.embed_texts(texts))):
                vectors[i] = row
            tokens = runtime.encoder.count_tokens(texts)
        ITEMS.labels("image").inc(len(image_rows))
        ITEMS.labels("text").inc(len(text_rows))
        data = []
        for i, vector in enumerate(vectors):
            vector = np.asarray(vector, dtype=np.float32)
            encoded = base64.b64encode(vector.tobytes()).decode() if body.encoding_format == "base64" else vector  # [D]
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        return vector_response({"object": "list", "data": data, "model": runtime.encoder.name,
                                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @app.post("/v1/chat/completions", tags=["openai"], responses=STREAMED)
    async def chat_completions(body: schemas.ChatCompletionRequest):
        runtime = state.require()
        mllm = runtime.require_mllm()
        check_model(runtime, body.model, mllm.name, "chat completions")
        check_chat_features(body)
        check_no_image_placeholder(body)
        job = await off_loop(lambda: check_prompt_tokens(runtime, to_generation_job(runtime, body), "messages"))
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return await stream_job(runtime, job, chunk_shaper(completion_id, created, mllm.name, include_usage))
        completion = await bounded(runtime, runtime.complete(job))
        ITEMS.labels("generation").inc()
        return {"id": completion_id, "object": "chat.completion", "created": created, "model": mllm.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                             "finish_reason": completion.finish_reason, "logprobs": None}],
                "usage": usage_of(completion)}

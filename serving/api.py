"""The HTTP API as a FastAPI app: native routes, error handlers, health, metrics.

``build_app(state)`` returns the app; ``state.runtime`` is filled once the models are loaded
(by the BentoML service's ``__init__`` or the standalone app's lifespan), and until then every
model route answers 503. The OpenAI-compatible routes are in ``serving.openai_routes``.

Routes: ``POST /embed/images`` (+ ``/embed/images/upload``), ``POST /embed/texts``,
``POST /classify`` (+ ``/classify/upload``), ``POST /index/add``, ``POST /index/search``,
``POST /index/delete``, ``GET /index/count``, ``POST /vqa`` (+ ``/vqa/upload``; ``stream``
gives server-sent events), ``GET /livez``, ``GET /readyz``, ``GET /metrics``, ``GET /info``,
``/openapi.json`` and ``/docs``.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Optional

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openeyes.errors import UserError
from openeyes.serving import schemas
from openeyes.serving.errors import ApiError, envelope
from openeyes.serving.fast_json import VectorResponse, vector_response
from openeyes.serving.limits import check_image_count, check_texts, image_from_bytes, image_from_string
from openeyes.serving.metrics import ITEMS

log = logging.getLogger("openeyes.serving")
MAX_METADATA_CHARS = 4096  # serialized metadata per index row
# Blocking input work (image decoding, URL fetches, prompt tokenizing) runs here, off the event loop,
# in its own pool so that slow inputs cannot starve the default pool (index writes, readiness probes).
INPUT_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="openeyes-input")


async def off_loop(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in the input pool; the event loop (``/livez``, other requests) keeps running."""
    return await asyncio.get_running_loop().run_in_executor(INPUT_POOL, functools.partial(fn, *args))


@dataclass
class AppState:
    """What the routes read: the runtime once loaded, or why it is not."""

    runtime: Any = None  # serving.runtime.Runtime
    load_error: Optional[str] = None
    started: float = field(default_factory=time.time)
    probe_cache: tuple[float, dict] | None = None  # (when, report) of the last model probe (the index is asked every time)
    keyed: bool = False  # an API key guards the service (then /info may show full model specs)

    def require(self):
        if self.runtime is None:
            reason = f"failed to load: {self.load_error}" if self.load_error else "models are still loading"
            raise ApiError(503, f"the service is not ready ({reason})")
        return self.runtime


async def bounded(runtime: Any, awaitable: Awaitable) -> Any:
    """Await with the service's request timeout (504 after)."""
    try:
        return await asyncio.wait_for(awaitable, runtime.limits.request_timeout_s)
    except asyncio.TimeoutError:
        raise ApiError(504, f"the request did not finish within {runtime.limits.request_timeout_s} s") from None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, problem: ApiError):
        return JSONResponse(envelope(problem.status, problem.message, problem.param, problem.code), status_code=problem.status)

    @app.exception_handler(UserError)
    async def on_user_error(request: Request, problem: UserError):
        return JSONResponse(envelope(400, str(problem)), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, problem: RequestValidationError):
        errors = problem.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
            return JSONResponse(envelope(400, f"the body is not valid JSON (UTF-8): {detail}"), status_code=400)
        parts = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {e.get('msg')}")
        first = ".".join(str(p) for p in errors[0].get("loc", ()) if p != "body") if errors else None
        return JSONResponse(envelope(422, "request does not match the schema: " + "; ".join(parts), first or None), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, problem: StarletteHTTPException):
        message = str(problem.detail)
        if problem.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /openapi.json"
        elif problem.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}; see /openapi.json"
        return JSONResponse(envelope(problem.status_code, message), status_code=problem.status_code,
                            headers=getattr(problem, "headers", None))


async def decode_images(runtime: Any, images: list[str], param: str = "images", names: list[str] | None = None) -> list[Any]:
    """Image strings -> PIL images, off the loop; ``names`` are the params reported per image."""
    check_image_count(len(images), runtime.limits, param)
    names = names or [f"{param}[{i}]" for i in range(len(images))]
    return await off_loop(lambda: [image_from_string(text, runtime.limits, name) for text, name in zip(images, names)])


async def read_uploads(runtime: Any, files: list[UploadFile], param: str = "files") -> list[Any]:
    check_image_count(len(files), runtime.limits, param)
    images = []
    for i, upload in enumerate(files):
        data = await upload.read(runtime.limits.max_image_bytes + 1)
        images.append(await off_loop(image_from_bytes, data, runtime.limits, f"{param}[{i}]"))
    return images


def embeddings_payload(runtime: Any, vectors: np.ndarray) -> VectorResponse:
    """The embedding routes' answer; ``vectors`` [B, D] float32 go out exactly, in one orjson call."""
    return vector_response({"model": runtime.encoder.name, "dim": int(vectors.shape[1]),
                            "fingerprint": runtime.encoder.fingerprint,
                            "embeddings": np.ascontiguousarray(vectors, dtype=np.float32)})


async def classify(runtime: Any, images: list[Any], labels: list[str], templates: list[str]) -> dict:
    check_texts(labels, runtime.limits, "labels")
    if len(labels) > runtime.limits.max_labels:
        raise ApiError(413, f"{len(labels)} labels; at most {runtime.limits.max_labels}", param="labels")
    check_texts(templates, runtime.limits, "templates")
    if len(labels) * len(templates) > runtime.limits.max_texts:
        raise ApiError(413, f"{len(labels)} labels x {len(templates)} templates exceeds {runtime.limits.max_texts} prompts", param="templates")
    probs = await bounded(runtime, runtime.zero_shot(images, labels, templates))  # [B, L]
    ITEMS.labels("classify").inc(len(images))
    results = []
    for row in probs:
        order = np.argsort(-row)
        results.append({"label": labels[int(order[0])], "probabilities": {labels[j]: round(float(row[j]), 6) for j in order}})
    return {"model": runtime.encoder.name, "results": results}


def vqa_job(runtime: Any, image: Any, question: str, max_new_tokens: int, temperature: float):
    from openeyes.mllm.protocol import as_request
    from openeyes.serving.runtime import GenerationJob

    check_texts([question], runtime.limits, "question")
    if max_new_tokens > runtime.limits.max_new_tokens:
        raise ApiError(422, f"max_new_tokens is {max_new_tokens}; at most {runtime.limits.max_new_tokens}", param="max_new_tokens")
    job = GenerationJob(as_request((image, question)), max_new_tokens=max_new_tokens, temperature=temperature)
    return check_prompt_tokens(runtime, job, "question")


def check_prompt_tokens(runtime: Any, job: Any, param: str) -> Any:
    """413 when the prompt (text and image tokens) exceeds ``limits.max_prompt_tokens``; returns ``job``.

    Characters per text are bounded elsewhere; this bounds the whole request's prompt, which is
    what generation time grows with. Blocking (tokenizes): call it off the loop."""
    count = getattr(runtime.mllm, "prompt_tokens", None)
    if count is not None:
        tokens = count(job)
        if tokens > runtime.limits.max_prompt_tokens:
            raise ApiError(413, f"the prompt is {tokens} tokens (text and images); at most {runtime.limits.max_prompt_tokens} "
                                f"per request", param=param, code="context_length_exceeded")
    return job


def sse(payload: Any) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def stream_job(runtime: Any, job: Any, shape) -> Any:
    """Server-sent events from ``runtime.mllm.stream(job)``: ``shape(item)`` turns each text piece,
    then the final ``Completion``, into a list of event payloads."""
    from starlette.concurrency import iterate_in_threadpool

    mllm = runtime.require_mllm()

    async def events():
        try:
            async for item in iterate_in_threadpool(mllm.stream(job)):
                for payload in shape(item):
                    yield sse(payload)
        except ApiError as problem:  # the status line is already sent: report in-band, then end
            yield sse(envelope(problem.status, problem.message, problem.param, problem.code))
        except Exception as problem:
            log.exception("stream failed")
            yield sse(envelope(500, f"generation failed: {problem}"))
        yield sse("[DONE]")

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


FOLDERS = re.compile(r"(?:^|(?<=[@=:]))~?(?:[A-Za-z]:)?[\\/](?:[^@\s\\/]+[\\/])*")  # an absolute path's folders


def public_spec(spec: str) -> str:
    """A model spec as callers without a key may see it: no folders of the server's disk, no engine URL
    (``/srv/models/enc`` -> ``enc``; ``open_clip:ViT-B-32@/w/x.bin`` -> ``open_clip:ViT-B-32@x.bin``)."""
    if "://" in spec:
        return "remote engine"
    return FOLDERS.sub("", spec)


def check_top_k(runtime: Any, top_k: int) -> int:
    if not 1 <= top_k <= runtime.limits.max_top_k:
        raise ApiError(422, f"top_k must be between 1 and {runtime.limits.max_top_k}, got {top_k}", param="top_k")
    return top_k


def check_vector(runtime: Any, vector: list[float], fingerprint: str | None, param: str) -> np.ndarray:
    if fingerprint != runtime.encoder.fingerprint:
        raise ApiError(400, f"'{param}': vectors must come from this server's encoder; send fingerprint "
                            f"{runtime.encoder.fingerprint!r} ({runtime.encoder.name}); got {fingerprint!r}", param="fingerprint")
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (runtime.encoder.dim,) or not np.isfinite(array).all() or not np.any(array):
        raise ApiError(400, f"'{param}' must be {runtime.encoder.dim} finite numbers, not all zero", param=param)
    return array


def check_metadata(metadata: Any, param: str) -> None:
    """Index metadata must be plain JSON (no NaN/Infinity: ``1e400`` parses to infinity) and small."""
    if metadata is None:
        return
    try:
        text = json.dumps(metadata, allow_nan=False)
    except ValueError:
        raise ApiError(400, f"'{param}' holds a non-finite number (NaN, Infinity or one too large for a float, "
                            f"such as 1e400); JSON has none", param=param) from None
    if len(text) > MAX_METADATA_CHARS:
        raise ApiError(413, f"'{param}' is larger than {MAX_METADATA_CHARS} characters", param=param)


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, so it serializes as JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_json(item) for item in value]
    return value


def add_native_routes(app: FastAPI, state: AppState) -> None:
    @app.get("/livez", tags=["health"])
    async def livez():
        return {"status": "alive", "uptime_s": round(time.time() - state.started, 1)}

    @app.get("/readyz", tags=["health"])
    async def readyz():
        runtime = state.require()
        now = time.time()
        if state.probe_cache is None or now - state.probe_cache[0] > 2.0:  # the models at most every 2 s
            state.probe_cache = (now, await asyncio.to_thread(runtime.probe_models))
        report = {**state.probe_cache[1], **await asyncio.to_thread(runtime.probe_index)}  # the index every time
        failed = {k: v for k, v in report.items() if v.startswith("failed")}
        if failed:
            raise ApiError(503, f"model probe failed: {failed}")
        return {"status": "ready", "components": report}

    @app.get("/info", tags=["health"])
    async def info():
        runtime = state.require()
        shown = (lambda spec: spec) if state.keyed else public_spec
        return {"encoder": {"name": runtime.encoder.name, "spec": shown(runtime.encoder.spec), "dim": runtime.encoder.dim,
                            "fingerprint": runtime.encoder.fingerprint},
                "mllm": None if runtime.mllm is None else {"name": runtime.mllm.name, "spec": shown(runtime.mllm.spec)},
                "index": {"count": await asyncio.to_thread(lambda: runtime.index.count), "persistent": runtime.index.persistent},
                "limits": runtime.limits.__dict__}

    @app.post("/embed/images", tags=["embeddings"])
    async def embed_images(body: schemas.EmbedImagesRequest):
        runtime = state.require()
        images = await decode_images(runtime, body.images)
        vectors = await bounded(runtime, runtime.embed_images(images))
        ITEMS.labels("image").inc(len(images))
        return embeddings_payload(runtime, vectors)

    @app.post("/embed/images/upload", tags=["embeddings"])
    async def embed_images_upload(files: list[UploadFile] = File(...)):
        runtime = state.require()
        images = await read_uploads(runtime, files)
        vectors = await bounded(runtime, runtime.embed_images(images))
        ITEMS.labels("image").inc(len(images))
        return embeddings_payload(runtime, vectors)

    @app.post("/embed/texts", tags=["embeddings"])
    async def embed_texts(body: schemas.EmbedTextsRequest):
        runtime = state.require()
        texts = check_texts(body.texts, runtime.limits)
        vectors = await bounded(runtime, runtime.embed_texts(texts))
        ITEMS.labels("text").inc(len(texts))
        return embeddings_payload(runtime, vectors)

    @app.post("/classify", tags=["zero-shot"])
    async def classify_json(body: schemas.ClassifyRequest):
        runtime = state.require()
        return await classify(runtime, await decode_images(runtime, body.images), body.labels, body.templates)

    @app.post("/classify/upload", tags=["zero-shot"])
    async def classify_upload(file: UploadFile = File(...), labels: str = Form(..., description="comma-separated labels"),
                              templates: str = Form("a photo of a {}.", description="'|'-separated templates")):
        runtime = state.require()
        images = await read_uploads(runtime, [file], "file")
        return await classify(runtime, images, [x.strip() for x in labels.split(",") if x.strip()],
                              [t for t in templates.split("|") if t.strip()])

    @app.post("/index/add", tags=["retrieval"])
    async def index_add(body: schemas.IndexAddRequest):
        runtime = state.require()
        items = body.items
        if not items:
            raise ApiError(400, "'items' must hold at least one item", param="items")
        if len(items) > runtime.limits.max_texts:
            raise ApiError(413, f"{len(items)} items; at most {runtime.limits.max_texts} per request", param="items")
        vectors: list[np.ndarray | None] = [None] * len(items)
        text_rows, image_rows = [], []
        for i, item in enumerate(items):
            given = [name for name in ("text", "image", "vector") if getattr(item, name) is not None]
            if len(given) != 1:
                raise ApiError(400, f"items[{i}] needs exactly one of 'text', 'image', 'vector' (got {given or 'none'})", param=f"items[{i}]")
            check_metadata(item.metadata, f"items[{i}].metadata")
            if item.id is not None and not item.id.strip():
                raise ApiError(400, f"items[{i}].id is empty", param=f"items[{i}].id")
            if item.vector is not None:
                vectors[i] = check_vector(runtime, item.vector, body.fingerprint, f"items[{i}].vector")
            elif item.text is not None:
                text_rows.append(i)
            else:
                image_rows.append(i)
        if image_rows:
            images = await decode_images(runtime, [items[i].image for i in image_rows], "items",
                                         [f"items[{i}].image" for i in image_rows])
            for i, row in zip(image_rows, await bounded(runtime, runtime.embed_images(images))):
                vectors[i] = row
        if text_rows:
            texts = check_texts([items[i].text for i in text_rows], runtime.limits, "items.text")
            for i, row in zip(text_rows, await bounded(runtime, runtime.embed_texts(texts))):
                vectors[i] = row
        ids = [item.id or uuid.uuid4().hex for item in items]
        await asyncio.to_thread(runtime.index.add, ids, np.stack(vectors), [item.metadata for item in items])
        return {"ids": ids, "count": await asyncio.to_thread(lambda: runtime.index.count)}

    @app.post("/index/search", tags=["retrieval"])
    async def index_search(body: schemas.IndexSearchRequest):
        runtime = state.require()
        top_k = check_top_k(runtime, body.top_k)
        given = [name for name in ("text", "image", "vector") if getattr(body, name) is not None]
        if len(given) != 1:
            raise ApiError(400, f"give exactly one of 'text', 'image', 'vector' (got {given or 'none'})")
        if body.vector is not None:
            query = check_vector(runtime, body.vector, body.fingerprint, "vector")
        elif body.text is not None:
            query = (await bounded(runtime, runtime.embed_texts(check_texts([body.text], runtime.limits, "text"))))[0]
        else:
            query = (await bounded(runtime, runtime.embed_images(await decode_images(runtime, [body.image], names=["image"]))))[0]
        results = await asyncio.to_thread(runtime.index.search, query, top_k)
        for result in results:  # rows stored before non-finite numbers were refused still answer
            result["metadata"] = finite_json(result.get("metadata"))
        return {"results": results, "count": await asyncio.to_thread(lambda: runtime.index.count)}

    @app.post("/index/delete", tags=["retrieval"])
    async def index_delete(body: schemas.IndexDeleteRequest):
        runtime = state.require()
        if not body.ids:
            raise ApiError(400, "'ids' must hold at least one id", param="ids")
        if len(body.ids) > runtime.limits.max_top_k:
            raise ApiError(413, f"{len(body.ids)} ids; at most {runtime.limits.max_top_k} per request", param="ids")
        deleted = await asyncio.to_thread(runtime.index.delete, body.ids)
        return {"deleted": deleted, "count": await asyncio.to_thread(lambda: runtime.index.count)}

    @app.get("/index/count", tags=["retrieval"])
    async def index_count():
        runtime = state.require()
        count = await asyncio.to_thread(lambda: runtime.index.count)  # a database query for the shared store
        return {"count": count, "dim": runtime.encoder.dim, "fingerprint": runtime.encoder.fingerprint}

    @app.post("/vqa", tags=["vqa"], responses=STREAMED)
    async def vqa(body: schemas.VQARequest):
        runtime = state.require()
        runtime.require_mllm()
        image = (await decode_images(runtime, [body.image], names=["image"]))[0]
        job = await off_loop(vqa_job, runtime, image, body.question, body.max_new_tokens, body.temperature)
        return await answer(runtime, job, body.stream)

    @app.post("/vqa/upload", tags=["vqa"])
    async def vqa_upload(file: UploadFile = File(...), question: str = Form(...), max_new_tokens: int = Form(32, ge=1),
                         temperature: float = Form(0.0, ge=0.0, le=2.0)):
        runtime = state.require()
        runtime.require_mllm()
        images = await read_uploads(runtime, [file], "file")
        job = await off_loop(vqa_job, runtime, images[0], question, max_new_tokens, temperature)
        return await answer(runtime, job, False)


async def answer(runtime: Any, job: Any, stream: bool) -> Any:
    if stream:
        return await stream_job(runtime, job, lambda item: [{"delta": item}] if isinstance(item, str) else [{"done": True}])
    text = await bounded(runtime, runtime.generate(job))
    ITEMS.labels("generation").inc()
    return {"model": runtime.mllm.name, "answer": text}


def metrics_text() -> tuple[bytes, int, None, str]:
    """(body, status, headers, media type) of the Prometheus exposition; summed over worker
    processes when ``PROMETHEUS_MULTIPROC_DIR`` is set (BentoML sets it for its workers)."""
    import os

    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), 200, None, CONTENT_TYPE_LATEST
    return generate_latest(), 200, None, CONTENT_TYPE_LATEST


def add_metrics_route(app: FastAPI) -> None:
    @app.get("/metrics", tags=["health"], responses={200: {"description": "Prometheus text format",
                                                           "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics():
        return Response(*await asyncio.to_thread(metrics_text))


ERROR_STATUSES = {  # documented on every route (the OpenAPI spec lists what the service answers)
    400: "bad input (undecodable image, invalid JSON or UTF-8, empty or too-long text, an unserved feature)",
    401: "missing or wrong API key (when the service has one)",
    404: "unknown route, index id or model",
    405: "the route does not take this method",
    413: "too large: body, image pixels or sides, images/texts/items per request, prompt tokens",
    415: "wrong Content-Type, or an image format that is not allowed",
    422: "the body does not match the schema",
    429: "overloaded: the batching queue is full; retry later",
    503: "not ready: models loading, no MLLM configured, or the remote engine failed",
    504: "the request did not finish within the service's timeout",
}
STREAMED = {200: {"description": "JSON, or server-sent events with 'stream': true",
                  "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def build_app(state: AppState, *, api_key: str | None, max_body_bytes: int, own_metrics: bool = True) -> FastAPI:
    """The FastAPI app with every route, the error envelope and the guard middleware."""
    from openeyes import __version__
    from openeyes.serving.middleware import GuardMiddleware
    from openeyes.serving.openai_routes import add_openai_routes

    errors = {status: {"model": schemas.ErrorEnvelope, "description": text} for status, text in ERROR_STATUSES.items()}
    app = FastAPI(title="openeyes", version=__version__, responses=errors,
                  description="Embeddings, zero-shot classification, retrieval, VQA and OpenAI-compatible routes. "
                              "Errors: {'error': {message, type, param, code}}; see openeyes.serving.errors for the status policy.")
    install_error_handlers(app)
    add_native_routes(app, state)
    add_openai_routes(app, state)
    if own_metrics:
        add_metrics_route(app)
    state.keyed = bool(api_key)
    app.add_middleware(GuardMiddleware, api_key=api_key, max_body_bytes=max_body_bytes, routes=app.routes)
    app.state.openeyes = state
    return app

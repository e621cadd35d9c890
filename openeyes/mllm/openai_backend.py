"""The HTTP backend of the ``MLLM`` protocol: any OpenAI-compatible chat endpoint (vLLM, ``openeyes serve``).

Each request becomes one ``POST {base}/v1/chat/completions`` whose user content carries the
images as ``image_url`` parts with ``data:image/png;base64,...`` URIs (in ``<image>`` order),
then the text. Greedy decoding is ``temperature: 0``. Requests of a ``generate`` call run on a
few threads at once; answers come back in request order.

Errors: 429, 408 and 5xx (and dropped connections, timeouts) are retried with exponential backoff
(``Retry-After`` honoured); any other 4xx is a ``UserError`` naming the status and the
server's message. httpx is used when importable, else the standard library's urllib.
"""
from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from openeyes.errors import UserError
from openeyes.mllm.protocol import IMAGE_MARKER, Completion, GenerationRequest, SamplingParams, as_request, cut_at_stop

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx


@dataclass
class HTTPReply:
    status: int                 # HTTP status code
    body: str                   # response body as text
    retry_after: float | None   # seconds from a Retry-After header, when given


class TransientHTTPError(Exception):
    """A failure worth retrying: no connection, a timeout, 429 or 5xx."""


def api_root(base_url: str) -> str:
    """``http://host:8000``, ``.../v1`` or ``.../v1/chat/completions`` -> ``http://host:8000``."""
    root = base_url.strip().rstrip("/")
    for suffix in (CHAT_PATH, "/v1"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
    if not root.startswith(("http://", "https://")):
        raise UserError(f"an OpenAI-compatible endpoint must start with http:// or https://, got {base_url!r}")
    return root


def image_data_uri(image: Any) -> str:
    """A PIL image, a path or an existing URI -> a URI for an ``image_url`` part (PNG data URI)."""
    if isinstance(image, str) and image.startswith(("data:", "http://", "https://")):
        return image
    from PIL import Image

    if isinstance(image, (str, Path)):
        if not Path(image).is_file():
            raise UserError(f"image {image} does not exist")
        with Image.open(image) as opened:
            picture = opened.convert("RGB")
    elif isinstance(image, Image.Image):
        picture = image.convert("RGB") if image.mode not in ("RGB", "RGBA", "L") else image
    else:
        raise UserError(f"cannot send an image of type {type(image).__name__}; give a PIL image or a path")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_part(image: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image_data_uri(image)}}


def _next_image(images: Any, count: int) -> Any:
    try:
        return next(images)
    except StopIteration:
        raise UserError(f"the messages place more images than the {count} the request carries") from None


def openai_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """The request's messages in OpenAI form: image placeholders and ``<image>`` markers become
    ``image_url`` parts, taking the request's images in order."""
    images = iter(request.images)
    used = 0
    converted = []
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            if IMAGE_MARKER not in content:
                converted.append({"role": message["role"], "content": content})
                continue
            parts: list[dict[str, Any]] = []
            pieces = content.split(IMAGE_MARKER)
            for index, piece in enumerate(pieces):
                if index > 0:
                    parts.append(_image_part(_next_image(images, len(request.images))))
                    used += 1
                if piece.strip():
                    parts.append({"type": "text", "text": piece})
            converted.append({"role": message["role"], "content": parts})
            continue
        parts = []
        for part in content or []:
            kind = part.get("type")
            if kind == "image":
                embedded = part.get("image") or part.get("url")
                if embedded is None:
                    embedded, used = _next_image(images, len(request.images)), used + 1
                parts.append(_image_part(embedded))
            elif kind == "text":
                parts.append({"type": "text", "text": part.get("text", "")})
            else:
                parts.append(part)  # already an OpenAI part (image_url, ...)
        converted.append({"role": message["role"], "content": parts})
    if used != len(request.images):
        raise UserError(f"the messages place {used} images but the request carries {len(request.images)}")
    return converted


class _Transport:
    """POST/GET JSON with httpx when importable, else urllib (no extra dependency)."""

    def __init__(self, timeout: float, headers: dict[str, str], client: str = "auto"):
        if client not in ("auto", "httpx", "urllib"):
            raise UserError(f"HTTP client must be auto, httpx or urllib, got {client!r}")
        self.timeout = timeout
        self.headers = headers
        httpx = None
        if client != "urllib":
            try:
                import httpx
            except ImportError:
                if client == "httpx":
                    raise UserError("httpx is not installed (pip install httpx), or use the urllib client") from None
        self._client = httpx.Client(timeout=timeout, headers=headers) if httpx is not None else None
        self.kind = "httpx" if self._client is not None else "urllib"

    def request(self, method: str, url: str, payload: dict[str, Any] | None = None) -> HTTPReply:
        if self._client is not None:
            return self._with_httpx(method, url, payload)
        return self._with_urllib(method, url, payload)

    def _with_httpx(self, method: str, url: str, payload: dict[str, Any] | None) -> HTTPReply:
        import httpx

        try:
            response = self._client.request(method, url, json=payload)
        except (httpx.TransportError, httpx.TimeoutException) as problem:
            raise TransientHTTPError(f"{type(problem).__name__}: {problem}") from None
        return HTTPReply(response.status_code, response.text, _seconds(response.headers.get("retry-after")))

    def _with_urllib(self, method: str, url: str, payload: dict[str, Any] | None) -> HTTPReply:
        import urllib.error
        import urllib.request

        data = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = dict(self.headers, **({"Content-Type": "application/json"} if data is not None else {}))
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return HTTPReply(response.status, response.read().decode("utf-8", "replace"), None)
        except urllib.error.HTTPError as problem:
            body = problem.read().decode("utf-8", "replace") if problem.fp else ""
            return HTTPReply(problem.code, body, _seconds(problem.headers.get("Retry-After") if problem.headers else None))
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as problem:
            raise TransientHTTPError(f"{type(problem).__name__}: {problem}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _server_message(body: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's start."""
    try:
        error = json.loads(body).get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return body.strip()[:300]


class OpenAIChatMLLM:
    """``MLLM`` over an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 concurrency: int = 8, name: str | None = None, client: str = "auto"):
        self.root = api_root(base_url)
        self.timeout = timeout            # seconds per HTTP call
        self.max_retries = max_retries    # retries after the first try (429 / 5xx / network)
        self.backoff = backoff            # first wait in seconds, doubled per retry
        self.max_backoff = max_backoff    # cap on one wait
        self.concurrency = max(1, concurrency)  # requests in flight at once
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = _Transport(timeout, headers, client)  # client: auto (httpx if importable) | httpx | urllib
        self._model = model
        self.name = name or model or self.root

    # -- the protocol --------------------------------------------------------------------------
    def generate(self, requests: Sequence[Any], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None,
                 batch_size: int | None = None) -> list[str]:
        params = SamplingParams(max_new_tokens, temperature, top_p, list(stop or []), seed)
        return [answer.text for answer in self.generate_completions(requests, params)]

    def generate_completions(self, requests: Sequence[Any], params: SamplingParams) -> list[Completion]:
        """``generate`` with the engine's token counts (``usage``) and finish reasons."""
        params.validate()
        bodies = [self.payload(as_request(item), params) for item in requests]
        if len(bodies) <= 1 or self.concurrency == 1:
            answers = [self._completion(body) for body in bodies]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
                answers = list(pool.map(self._completion, bodies))
        for answer in answers:
            answer.text = cut_at_stop(answer.text, params.stop)
        return answers

    def chat(self, messages: list[dict[str, Any]], images: Sequence[Any] = (), **sampling: Any) -> str:
        return self.generate([GenerationRequest(list(images), messages)], **sampling)[0]

    def close(self) -> None:
        self._transport.close()

    # -- wire format ---------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The served model's name: the one given, else the first of ``GET /v1/models``."""
        if self._model is None:
            reply = self._call("GET", self.root + MODELS_PATH, None)
            try:
                self._model = json.loads(reply)["data"][0]["id"]
            except (ValueError, KeyError, IndexError, TypeError):
                raise UserError(f"{self.root}{MODELS_PATH} lists no model; pass the model name (--model-name)") from None
        return self._model

    def payload(self, request: GenerationRequest, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "messages": openai_messages(request),
            "max_tokens": params.max_new_tokens, "temperature": params.temperature,
        }
        if params.temperature > 0:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    def complete(self, body: dict[str, Any]) -> str:
        """The message content the endpoint answers to one chat-completions ``body`` (as given)."""
        return self._completion(body).text

    def _completion(self, body: dict[str, Any]) -> Completion:
        """One chat-completions ``body`` -> the answer with the endpoint's usage and finish reason."""
        reply = self._call("POST", self.root + CHAT_PATH, body)
        try:
            answer = json.loads(reply)
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise UserError(f"{self.root}{CHAT_PATH} answered something that is not a chat completion: {reply[:200]!r}") from None
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        return Completion(content or "", int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                          "length" if choice.get("finish_reason") == "length" else "stop")

    def _call(self, method: str, url: str, body: dict[str, Any] | None) -> str:
        """The response text of one call, retried on 429/5xx/network errors with backoff."""
        problem = ""
        for attempt in range(self.max_retries + 1):
            wait = min(self.max_backoff, self.backoff * 2 ** attempt)
            try:
                reply = self._transport.request(method, url, body)
            except TransientHTTPError as error:
                problem = str(error)
            else:
                if 200 <= reply.status < 300:
                    return reply.body
                message = _server_message(reply.body)
                if reply.status not in RETRY_STATUSES and reply.status < 500:
                    raise UserError(f"{method} {url} failed with HTTP {reply.status}: {message}")
                problem = f"HTTP {reply.status}: {message}"
                if reply.retry_after is not None:
                    wait = min(self.max_backoff, reply.retry_after)
            if attempt < self.max_retries:
                time.sleep(wait)
        raise UserError(f"{method} {url} failed after {self.max_retries + 1} tries; last error: {problem}")

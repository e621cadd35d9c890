"""ASGI middleware: request metrics, bearer auth, body-size and content-type checks.

Plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through untouched. The
body is read up to the limit and replayed to the app, so an oversized body is a clean 413
whether or not it announced its ``Content-Length``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any, Callable

from starlette.routing import Match

from openeyes.serving.errors import envelope
from openeyes.serving.metrics import LATENCY, REQUESTS

log = logging.getLogger("openeyes.serving")
OPEN_PATHS = ("/livez", "/readyz", "/healthz")  # never need the API key
UI_PREFIX = "/ui"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # the methods route_of remembers
MULTIPART_SUFFIX = "/upload"  # routes taking multipart/form-data; every other POST takes JSON
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # a JSON escape of a UTF-16 surrogate


def has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON body escapes a lone UTF-16 surrogate (text no tokenizer or UTF-8 encoder takes).

    Only bodies with a surrogate escape are parsed (pairs such as emoji are legal); a body that is
    not JSON at all is left to the route's own 400."""
    if not SURROGATE_ESCAPE.search(body):
        return False
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def json_text_problem(body: bytes) -> str | None:
    """Why a JSON body is not strict UTF-8 text, or None.

    RFC 8259 bodies are UTF-8. Python's ``json`` would also take UTF-16/32 and UTF-8-encoded
    surrogates (it decodes with ``surrogatepass``), and hand text to the models that no
    tokenizer or encoder takes; so the raw bytes are decoded strictly first."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as problem:
        return f"invalid UTF-8 byte(s) at offset {problem.start}"
    if b"\x00" in body:  # never in UTF-8 JSON (raw control characters are invalid); UTF-16/32 JSON has them
        return "it holds NUL bytes (UTF-16 or UTF-32 JSON?); send UTF-8"
    if has_lone_surrogate(body):
        return "it escapes a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None


async def send_error(send: Callable, status: int, message: str, param: str | None = None, headers: dict | None = None) -> None:
    body = json.dumps(envelope(status, message, param)).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def enveloped_not_found(send: Callable) -> Callable:
    """``send`` for a mounted app (the UI) whose own 404s have another shape: a 404 is answered
    with the service's envelope instead; every other response passes untouched."""
    state = {"replaced": False}

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] == 404:
            state["replaced"] = True
            await send_error(send, 404, "no such page in the UI")
            return
        if state["replaced"]:
            return  # the mounted app's own 404 body
        await send(message)

    return sending


def key_digest(api_key: str | None) -> bytes | None:
    return hashlib.sha256(api_key.encode()).digest() if api_key else None


def authorized(scope: dict, digest: bytes) -> bool:
    """Whether the request carries ``Authorization: Bearer <key>`` (compared as SHA-256 digests, in constant time)."""
    value = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(hashlib.sha256(token.strip().encode()).digest(), digest)


async def deny(send: Callable) -> None:
    await send_error(send, 401, "missing or invalid API key: send 'Authorization: Bearer <key>'",
                     headers={"www-authenticate": "Bearer"})


class KeyMiddleware:
    """The API-key rule alone, for routes outside the app (BentoML's own ``/``, ``/docs.json``,
    ``/schema.json``...): every path but the health routes needs the key when one is set."""

    def __init__(self, app: Any, *, api_key: str | None):
        self.app = app
        self.digest = key_digest(api_key)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if (scope["type"] == "http" and self.digest is not None and scope.get("path", "") not in OPEN_PATHS
                and not authorized(scope, self.digest)):
            await deny(send)
            return
        await self.app(scope, receive, send)


class GuardMiddleware:
    """Metrics around everything; then auth, body size and media type for API routes."""

    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int, routes: list):
        self.app = app
        self.key_digest = key_digest(api_key)
        self.max_body_bytes = max_body_bytes
        self.routes = routes  # the app's (live) route list: metrics are labelled by route template
        self._matched: dict[tuple, tuple[str, bool]] = {}  # (method, path) -> route_of, for template paths

    def route_of(self, scope: dict) -> tuple[str, bool]:
        """The template of the route ``scope`` goes to (``/v1/models/{model_id}``, ``/ui``), else
        ``other`` (never the raw path, whose values are unbounded: every 404 would be a new metric
        series); and whether that route takes the request's method (False: the app answers 405).

        Matching walks every route's regex; the answers for paths that are a route's template
        itself (no path parameters: the hot routes) are remembered, so the cache stays bounded by
        the route table whatever paths and methods clients send."""
        key = (scope.get("method"), scope.get("path", ""))
        known = self._matched.get(key)
        if known is not None:
            return known
        found = self._match(scope)
        if found[0] == key[1] and key[0] in HTTP_METHODS:
            self._matched[key] = found
        return found

    def _match(self, scope: dict) -> tuple[str, bool]:
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "path", None) or "other", True
            if match == Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None) or "other"
        return partial or "other", False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route, method_allowed = self.route_of(scope)
        status_box = {"status": 500, "started": False}
        started = time.perf_counter()

        async def send_recording(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                status_box["started"] = True
            await send(message)

        try:
            await self._guarded(scope, receive, send_recording, path, method_allowed)
        except Exception as problem:
            # A bug: answer 500 here, as a complete response, so the connection stays usable for
            # pooled clients (re-raising makes the server drop it without 'Connection: close').
            log.exception("unhandled error on %s", path)
            if status_box["started"]:
                raise
            status_box["status"] = 500
            await send_error(send, 500, f"internal error ({type(problem).__name__}); this is a bug")
        finally:
            REQUESTS.labels(route, str(status_box["status"])).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)

    async def _guarded(self, scope: dict, receive: Callable, send: Callable, path: str, method_allowed: bool) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.key_digest is not None and path not in OPEN_PATHS and not authorized(scope, self.key_digest):
            await deny(send)
            return
        if path.startswith(UI_PREFIX):
            await self.app(scope, receive, enveloped_not_found(send))
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH") or not method_allowed:
            await self.app(scope, receive, send)  # no body to check (a wrong method is the app's 405)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_error(send, 413, f"request body is {declared} bytes; at most {self.max_body_bytes}")
            return
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        wanted = "multipart/form-data" if path.endswith(MULTIPART_SUFFIX) else "application/json"
        if media != wanted:
            await send_error(send, 415, f"this route takes Content-Type {wanted}, got {media or 'none'!r}")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_error(send, 413, f"request body exceeds {self.max_body_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_text_problem(body) if wanted == "application/json" else None
        if problem:
            await send_error(send, 400, f"the body is not valid UTF-8 text: {problem}")
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

"""The service's one error shape (OpenAI style) and its status policy.

Every error body is ``{"error": {"message", "type", "param", "code"}}``: ``type`` is OpenAI's
(``invalid_request_error`` for every 4xx but ``authentication_error`` (401) and
``rate_limit_error`` (429); ``service_unavailable_error`` (503), else ``server_error``; the
``openai`` SDK raises its exception class from the status), ``code`` says which rule (the names below, or a more precise one such as
``model_not_found``). Statuses:

=====  ========================  ============================================================
400    ``invalid_request``       bad input: undecodable/truncated/too-small image, invalid base64,
                                 malformed JSON or non-UTF-8 body, empty or too-long text, a bad
                                 value, an OpenAI feature this server does not serve (tools...)
401    ``authentication``        missing or wrong bearer API key (health routes stay open)
404    ``not_found``             unknown route, index id or ``model`` (``model_not_found``)
405    ``method_not_allowed``    a known route called with another method
413    ``too_large``             body bytes, image pixels (decompression bombs), images per request
415    ``unsupported_media``     wrong ``Content-Type`` or an image format that is not allowed
422    ``schema``                the JSON does not match the route's schema (unknown fields, wrong
                                 types, missing fields, out-of-range numbers such as ``top_k``)
429    ``overloaded``            the batching queue is full; retry later
503    ``not_ready``             a model is not loaded (no MLLM configured, still starting)
504    ``timeout``               the request did not finish within the service's timeout
=====  ========================  ============================================================

A 5xx other than 503/504 is a bug.
"""
from __future__ import annotations

from typing import Any

ERROR_CODES = {  # status -> the default ``code``
    400: "invalid_request",
    401: "authentication",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media",
    422: "schema",
    429: "overloaded",
    500: "internal",
    503: "not_ready",
    504: "timeout",
}
OPENAI_TYPES = {  # status -> OpenAI's error ``type`` (any other 4xx: invalid_request_error; 5xx: server_error)
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ApiError(Exception):
    """An error the service answers with ``status`` and the envelope."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def envelope(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The JSON body for an error."""
    kind = OPENAI_TYPES.get(status, "invalid_request_error" if 400 <= status < 500 else "server_error")
    default_code = ERROR_CODES.get(status, "invalid_request" if 400 <= status < 500 else "internal")
    return {"error": {"message": message, "type": kind, "param": param, "code": code or default_code}}

"""Request bodies of every JSON route (pydantic; unknown fields are refused with 422).

Images are strings: a data URI (``data:image/png;base64,...``), plain base64, or an http(s)
URL whose host the server allow-lists. Counts and lengths are checked by the routes (so that
too many images is a 413 and an empty text a 400, per the status policy), not here.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    message: str
    type: str = Field(description="OpenAI's error type: invalid_request_error, authentication_error, rate_limit_error, ...")
    param: Optional[str] = Field(default=None, description="the request field at fault, when one is")
    code: Optional[str] = Field(default=None, description="which rule: too_large, unsupported_media, model_not_found, ...")


class ErrorEnvelope(BaseModel):
    """Every error answer (see ``openeyes.serving.errors`` for the status policy)."""

    error: ErrorBody


class EmbedImagesRequest(Strict):
    images: list[str] = Field(description="images as data URIs or base64 (or allow-listed URLs)")


class EmbedTextsRequest(Strict):
    texts: list[str]


class ClassifyRequest(Strict):
    images: list[str]
    labels: list[str] = Field(description="class names; each is put into every template")
    templates: list[str] = Field(default_factory=lambda: ["a photo of a {}."], description="prompt templates with '{}' for the label")


class IndexItem(Strict):
    id: Optional[str] = Field(default=None, max_length=256, description="row id (a new uuid when omitted; an existing id is replaced)")
    text: Optional[str] = None
    image: Optional[str] = None
    vector: Optional[list[float]] = Field(default=None, description="a precomputed embedding (needs the request's fingerprint)")
    metadata: Optional[dict[str, Any]] = None


class IndexAddRequest(Strict):
    items: list[IndexItem]
    fingerprint: Optional[str] = Field(default=None, description="the encoder fingerprint the given vectors come from")


class IndexSearchRequest(Strict):
    text: Optional[str] = None
    image: Optional[str] = None
    vector: Optional[list[float]] = None
    fingerprint: Optional[str] = None
    top_k: int = 10


class IndexDeleteRequest(Strict):
    ids: list[str]


class VQARequest(Strict):
    image: str
    question: str
    max_new_tokens: int = Field(default=32, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    stream: bool = False


# -- OpenAI-compatible ------------------------------------------------------------------------------
# Fields stock OpenAI clients send are part of the schemas; those this server cannot honour
# (tools, logprobs, n > 1, JSON response formats, non-zero penalties, logit biases) are refused
# by the routes with a 400 that names them, never ignored silently.
class OpenAIEmbeddingsRequest(Strict):
    input: Union[str, list[str], list[int], list[list[int]]] = Field(
        description="text(s), or images as data URIs; token-id arrays are refused (400): this encoder has its own tokenizer")
    model: Optional[str] = Field(default=None, description="a served model id (GET /v1/models); unknown ids are a 404")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = Field(default=None, ge=1, description="must equal the encoder's width (no shortening)")
    user: Optional[str] = None


class ImageURL(Strict):
    url: str
    detail: Optional[Literal["auto", "low", "high"]] = None


class ContentPart(Strict):
    type: Literal["text", "image_url"]
    text: Optional[str] = None
    image_url: Optional[ImageURL] = None


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant"] = Field(description="'developer' is read as 'system'")
    content: Union[str, list[ContentPart]]
    name: Optional[str] = None


class StreamOptions(Strict):
    include_usage: bool = Field(default=False, description="end the stream with a chunk holding 'usage' (and no choices)")


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"] = Field(description="only 'text' is served")
    json_schema: Optional[dict[str, Any]] = None


class ChatCompletionRequest(Strict):
    messages: list[ChatMessage]
    model: Optional[str] = Field(default=None, description="a served model id (GET /v1/models); unknown ids are a 404")
    max_tokens: Optional[int] = Field(default=None, ge=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: Optional[float] = Field(default=0.0, ge=0.0, le=2.0)
    top_p: Optional[float] = Field(default=1.0, gt=0.0, le=1.0)
    stop: Union[str, list[str], None] = None
    seed: Optional[int] = Field(default=None, ge=-(2**63), le=2**64 - 1, description="seeds sampling (a 64-bit integer)")
    n: Optional[int] = Field(default=1, ge=1, le=128, description="choices per request; only 1 is served")
    stream: Optional[bool] = False
    stream_options: Optional[StreamOptions] = None
    user: Optional[str] = None
    frequency_penalty: Optional[float] = Field(default=None, ge=-2.0, le=2.0, description="only 0 is served")
    presence_penalty: Optional[float] = Field(default=None, ge=-2.0, le=2.0, description="only 0 is served")
    logit_bias: Optional[dict[str, float]] = Field(default=None, description="only an empty map is served")
    logprobs: Optional[bool] = Field(default=None, description="only false is served")
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=20, description="needs logprobs; not served")
    response_format: Optional[ResponseFormat] = None
    metadata: Optional[dict[str, str]] = None
    store: Optional[bool] = None
    service_tier: Optional[str] = None
    parallel_tool_calls: Optional[bool] = None
    tools: Optional[list[Any]] = Field(default=None, description="not served: a non-empty list is a 400")
    tool_choice: Optional[Any] = Field(default=None, description="only 'none' is served")
    functions: Optional[list[Any]] = Field(default=None, description="not served: a non-empty list is a 400")
    function_call: Optional[Any] = Field(default=None, description="only 'none' is served")

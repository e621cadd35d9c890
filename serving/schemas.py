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
class OpenAIEmbeddingsRequest(Strict):
    input: Union[str, list[str]]
    model: Optional[str] = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = None
    user: Optional[str] = None


class ImageURL(Strict):
    url: str
    detail: Optional[Literal["auto", "low", "high"]] = None


class ContentPart(Strict):
    type: Literal["text", "image_url"]
    text: Optional[str] = None
    image_url: Optional[ImageURL] = None


class ChatMessage(Strict):
    role: Literal["system", "user", "assistant"]
    content: Union[str, list[ContentPart]]
    name: Optional[str] = None


class StreamOptions(Strict):
    include_usage: bool = False


class ChatCompletionRequest(Strict):
    messages: list[ChatMessage]
    model: Optional[str] = None
    max_tokens: Optional[int] = Field(default=None, ge=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: Union[str, list[str], None] = None
    seed: Optional[int] = Field(default=None, ge=-(2**63), le=2**64 - 1, description="seeds sampling (a 64-bit integer)")
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    user: Optional[str] = None

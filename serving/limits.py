"""Input limits and decoding of user-supplied images (base64, data URIs, allow-listed URLs).

Every check raises ``ApiError`` with the status the policy in ``serving.errors`` gives. Images
are decoded with PIL only; the pixel count is checked from the header *before* decoding, so a
decompression bomb (a tiny PNG that inflates to gigapixels) costs nothing.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass, field
from urllib.parse import urlparse

from PIL import Image

from openeyes.serving.errors import ApiError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")  # what PIL may open; anything else is 415
DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[\w.-]+)*)(?P<b64>;base64)?,(?P<data>.*)$", re.S)


@dataclass
class Limits:
    """Per-request bounds (defaults sized for a small CPU service)."""

    max_body_bytes: int = 16 * 1024 * 1024  # whole request body
    max_image_bytes: int = 8 * 1024 * 1024  # one encoded image
    max_image_pixels: int = 4096 * 4096  # width * height of one image, checked before decoding
    max_image_side: int = 8192  # longest side of one image, checked before decoding
    max_aspect_ratio: float = 20.0  # long side / short side; a 3x400000 strip would resize to gigabytes
    min_image_side: int = 3  # smaller images are refused (INF's rule; a 1x1 image says nothing)
    max_images: int = 32  # images per request
    max_texts: int = 256  # texts per request
    max_text_chars: int = 2000  # characters per text
    max_labels: int = 256  # zero-shot labels per request
    max_top_k: int = 1000  # retrieval results per search
    max_new_tokens: int = 512  # VQA / chat generation cap
    max_prompt_tokens: int = 4096  # VQA / chat prompt tokens (text and image tokens) per request
    url_allow_hosts: list[str] = field(default_factory=list)  # image URL hosts that may be fetched
    url_timeout_s: float = 5.0  # total time to fetch one allow-listed image URL (connect to last byte)
    max_url_chars: int = 2048  # longest image URL accepted
    request_timeout_s: float = 120.0  # one request end to end (504 after)


def check_texts(texts: list[str], limits: Limits, param: str = "texts") -> list[str]:
    """Non-empty list of non-blank strings, each within the length limit."""
    if not texts:
        raise ApiError(400, f"'{param}' must hold at least one text", param=param)
    if len(texts) > limits.max_texts:
        raise ApiError(413, f"'{param}' holds {len(texts)} texts; at most {limits.max_texts} per request", param=param)
    for i, text in enumerate(texts):
        if not text.strip():
            raise ApiError(400, f"'{param}[{i}]' is empty", param=param)
        if len(text) > limits.max_text_chars:
            raise ApiError(400, f"'{param}[{i}]' has {len(text)} characters; at most {limits.max_text_chars}", param=param)
    return texts


def check_image_count(count: int, limits: Limits, param: str = "images") -> None:
    if count == 0:
        raise ApiError(400, f"'{param}' must hold at least one image", param=param)
    if count > limits.max_images:
        raise ApiError(413, f"{count} images in one request; at most {limits.max_images}", param=param)


def sniff_format(data: bytes) -> str | None:
    """The image format PIL recognises from the first bytes' signature (nothing is parsed), or None."""
    Image.init()
    head = data[:64]
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "SVG"
    for name, (_, accept) in Image.OPEN.items():
        try:
            if name not in ALLOWED_FORMATS and accept is not None and accept(head):
                return name
        except Exception:  # a format's signature check that needs more bytes
            continue
    return None


def image_from_bytes(data: bytes, limits: Limits, param: str = "image") -> Image.Image:
    """Encoded image bytes -> RGB PIL image, with format, size and bomb checks."""
    if not data:
        raise ApiError(400, f"'{param}' is empty (zero bytes)", param=param)
    if len(data) > limits.max_image_bytes:
        raise ApiError(413, f"'{param}' is {len(data)} bytes; at most {limits.max_image_bytes}", param=param)
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise ApiError(413, f"'{param}' declares too many pixels (decompression bomb guard)", param=param) from None
    except Image.UnidentifiedImageError:
        other = sniff_format(data)
        if other is not None:
            raise ApiError(415, f"'{param}' is a {other} image; allowed formats: {', '.join(ALLOWED_FORMATS)}", param=param) from None
        raise ApiError(400, f"'{param}' is not a decodable image (allowed formats: {', '.join(ALLOWED_FORMATS)})", param=param) from None
    except Exception as problem:  # PIL raises many types on garbage headers
        raise ApiError(400, f"'{param}' could not be read as an image: {problem}", param=param) from None
    check_image_size(image.size, limits, param)
    try:
        image.load()
        return image.convert("RGB")
    except Exception as problem:  # truncated or corrupt pixel data
        raise ApiError(400, f"'{param}' is corrupt or truncated: {problem}", param=param) from None


def check_image_size(size: tuple[int, int], limits: Limits, param: str) -> None:
    """Pixels, longest side and aspect ratio from the header, before anything is decoded or resized."""
    width, height = size
    if width * height > limits.max_image_pixels:
        raise ApiError(413, f"'{param}' is {width}x{height} pixels; at most {limits.max_image_pixels} pixels", param=param)
    if max(width, height) > limits.max_image_side:
        raise ApiError(413, f"'{param}' is {width}x{height}; each side may be at most {limits.max_image_side} pixels", param=param)
    if min(width, height) < limits.min_image_side:
        raise ApiError(400, f"'{param}' is {width}x{height}; each side must be at least {limits.min_image_side} pixels", param=param)
    if max(width, height) > limits.max_aspect_ratio * min(width, height):
        raise ApiError(400, f"'{param}' is {width}x{height}; the long side may be at most {limits.max_aspect_ratio:g} times "
                            f"the short side", param=param)


def decode_base64(text: str, param: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"'{param}' is not valid base64", param=param) from None


def image_from_string(text: str, limits: Limits, param: str = "image") -> Image.Image:
    """A data URI, plain base64, or an http(s) URL on an allow-listed host -> PIL image."""
    if not isinstance(text, str) or not text:
        raise ApiError(400, f"'{param}' is empty", param=param)
    if len(text) > limits.max_image_bytes * 4 // 3 + 1024:
        raise ApiError(413, f"'{param}' is {len(text)} characters of base64; the encoded image may be at most {limits.max_image_bytes} bytes", param=param)
    if text.startswith("data:"):
        match = DATA_URI.match(text)
        if not match or not match.group("b64"):
            raise ApiError(400, f"'{param}' is not a base64 data URI (expected data:image/<type>;base64,<data>)", param=param)
        mime = (match.group("mime") or "").lower()
        if not mime.startswith("image/"):
            raise ApiError(415, f"'{param}' has media type {mime or 'none'!r}; only image/* data URIs are accepted", param=param)
        return image_from_bytes(decode_base64(match.group("data"), param), limits, param)
    if text.startswith(("http://", "https://")):
        return image_from_bytes(fetch_url(text, limits, param), limits, param)
    return image_from_bytes(decode_base64(text, param), limits, param)


def check_url(url: str, limits: Limits, param: str) -> str:
    """A short, printable http(s) URL on an allow-listed host; returns its host."""
    if len(url) > limits.max_url_chars:
        raise ApiError(400, f"'{param}' is a URL of {len(url)} characters; at most {limits.max_url_chars}", param=param)
    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in url):
        raise ApiError(400, f"'{param}' is not a valid URL: it holds whitespace or control characters", param=param)
    try:
        parsed = urlparse(url)
        host, _ = (parsed.hostname or "").lower(), parsed.port  # .port raises on a port out of range
    except ValueError:  # e.g. an unclosed IPv6 bracket, port 99999
        raise ApiError(400, f"'{param}' is not a valid URL", param=param) from None
    if host not in {h.lower() for h in limits.url_allow_hosts}:
        raise ApiError(400, f"'{param}': image URLs are not fetched unless their host is allow-listed ({host!r} is not); send the image as base64 or a data URI", param=param)
    return host


def fetch_url(url: str, limits: Limits, param: str) -> bytes:
    """GET an image URL whose host is allow-listed: no redirects, a size cap, a total deadline.

    Blocking; call it off the event loop (it runs its own loop, so on the server's loop it fails
    loudly instead of freezing every request). ``url_timeout_s`` bounds the whole fetch, not each read,
    so a host that trickles bytes cannot hold a request longer than that."""
    import asyncio

    import httpx

    host = check_url(url, limits, param)
    try:
        fetched_host = httpx.URL(url).host.lower()
    except Exception:  # httpx.InvalidURL and kin
        fetched_host = None
    if fetched_host != host:  # the client must connect to the host that was checked, whatever the parsers think
        raise ApiError(400, f"'{param}' is not a valid URL (its host is ambiguous)", param=param)

    async def fetch() -> bytes:
        async with httpx.AsyncClient(follow_redirects=False, timeout=limits.url_timeout_s) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ApiError(400, f"'{param}': fetching the URL answered HTTP {response.status_code} (redirects are not followed)", param=param)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limits.max_image_bytes:
                        raise ApiError(413, f"'{param}': the URL's content is larger than {limits.max_image_bytes} bytes", param=param)
                    chunks.append(chunk)
                return b"".join(chunks)

    try:
        return asyncio.run(asyncio.wait_for(fetch(), limits.url_timeout_s))
    except (asyncio.TimeoutError, httpx.TimeoutException):
        raise ApiError(400, f"'{param}': fetching the URL took longer than {limits.url_timeout_s} s", param=param) from None
    except ApiError:
        raise
    except Exception as problem:  # whatever the network or the URL did, the image could not be had: the client's input
        raise ApiError(400, f"'{param}': fetching the URL failed: {type(problem).__name__}: {problem}", param=param) from None

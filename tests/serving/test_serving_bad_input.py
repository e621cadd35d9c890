"""A corpus of bad requests over real HTTP: every one gets a 4xx with the error envelope and a
clear message (never a 5xx), and the service stays healthy. Also auth and the no-MLLM 503."""
import base64
import io
import struct
import zlib

import httpx
import pytest

from conftest import data_uri, png_bytes

GOOD = png_bytes(seed=3)


def png_bomb(side=60_000) -> bytes:
    """A valid PNG header declaring side x side pixels (3.6 gigapixels) over a few KB of zeros."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 200_000)) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def jpeg_bytes(size=(32, 32)) -> bytes:
    return png_bytes(size=size, fmt="JPEG")


def tiff_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="TIFF")
    return buffer.getvalue()


def huge_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")  # 25 MP > 16.7 MP limit, small on the wire
    return buffer.getvalue()


def png_of(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")  # small on the wire whatever its size
    return buffer.getvalue()


def json_bytes(body: bytes) -> dict:
    return {"content": body, "headers": {"content-type": "application/json"}}


CHAT = lambda content, **options: {"json": {"messages": [{"role": "user", "content": content}], **options}}
LOOPBACK = "http://127.0.0.1:1/"  # the test server allow-lists 127.0.0.1
MESSAGES = lambda url: [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "hi"}]}]

# (name, method, path, request kwargs, expected status)
CORPUS = [
    ("corrupt image bytes", "post", "/embed/images", {"json": {"images": [b64(b"this is not an image at all")]}}, 400),
    ("truncated png", "post", "/embed/images", {"json": {"images": [b64(GOOD[: len(GOOD) // 2])]}}, 400),
    ("truncated jpeg", "post", "/embed/images", {"json": {"images": [b64(jpeg_bytes()[:300])]}}, 400),
    ("zero-byte image", "post", "/embed/images", {"json": {"images": [""]}}, 400),
    ("zero-byte data uri", "post", "/embed/images", {"json": {"images": ["data:image/png;base64,"]}}, 400),
    ("1x1 image", "post", "/embed/images", {"json": {"images": [b64(png_bytes(size=(1, 1)))]}}, 400),
    ("huge image", "post", "/embed/images", {"json": {"images": [b64(huge_png())]}}, 413),
    ("png bomb", "post", "/embed/images", {"json": {"images": [b64(png_bomb())]}}, 413),
    ("png bomb upload", "post", "/embed/images/upload", {"files": {"files": ("b.png", png_bomb(), "image/png")}}, 413),
    ("tiff not allowed", "post", "/embed/images", {"json": {"images": [b64(tiff_bytes())]}}, 415),
    ("ico not allowed", "post", "/embed/images", {"json": {"images": [b64(png_bytes(fmt="ICO"))]}}, 415),
    ("tiff upload not allowed", "post", "/embed/images/upload", {"files": {"files": ("a.tif", tiff_bytes(), "image/tiff")}}, 415),
    ("tiff in chat", "post", "/v1/chat/completions", {"json": {"messages": MESSAGES("data:image/tiff;base64," + b64(tiff_bytes()))}}, 415),
    ("wrong method with a body", "put", "/embed/texts", {"json": {"texts": ["a"]}}, 405),
    ("wrong method without content type", "post", "/livez", {"content": b"x"}, 405),
    ("patch without content type", "patch", "/v1/embeddings", {}, 405),
    ("ui 404 has the envelope", "get", "/ui/no-such-page", {}, 404),
    ("text data uri", "post", "/embed/images", {"json": {"images": ["data:text/plain;base64," + b64(b"hello")]}}, 415),
    ("data uri without base64", "post", "/embed/images", {"json": {"images": ["data:image/png,rawbytes"]}}, 400),
    ("invalid base64", "post", "/embed/images", {"json": {"images": ["!!!not base64***"]}}, 400),
    ("url not allow-listed", "post", "/embed/images", {"json": {"images": ["http://10.255.255.1/x.png"]}}, 400),
    ("too many images", "post", "/embed/images", {"json": {"images": [b64(GOOD)] * 33}}, 413),
    ("no images", "post", "/embed/images", {"json": {"images": []}}, 400),
    ("wrong content type", "post", "/embed/texts", {"content": b'{"texts": ["a"]}', "headers": {"content-type": "text/plain"}}, 415),
    ("json to an upload route", "post", "/embed/images/upload", {"json": {"files": []}}, 415),
    ("no content type", "post", "/embed/texts", {"content": b'{"texts": ["a"]}'}, 415),
    ("malformed json", "post", "/embed/texts", {"content": b'{"texts": [', "headers": {"content-type": "application/json"}}, 400),
    ("non-utf8 body", "post", "/embed/texts", {"content": b'{"texts": ["\xff\xfe\xfa"]}', "headers": {"content-type": "application/json"}}, 400),
    ("empty text", "post", "/embed/texts", {"json": {"texts": [""]}}, 400),
    ("blank text", "post", "/embed/texts", {"json": {"texts": ["   "]}}, 400),
    ("100k-char text", "post", "/embed/texts", {"json": {"texts": ["x" * 100_000]}}, 400),
    ("no texts", "post", "/embed/texts", {"json": {"texts": []}}, 400),
    ("texts wrong type", "post", "/embed/texts", {"json": {"texts": "a single string"}}, 422),
    ("texts of numbers", "post", "/embed/texts", {"json": {"texts": [1, 2]}}, 422),
    ("unknown field", "post", "/embed/texts", {"json": {"texts": ["a"], "bogus": 1}}, 422),
    ("missing field", "post", "/embed/texts", {"json": {}}, 422),
    ("body is a list", "post", "/embed/texts", {"json": ["a"]}, 422),
    ("negative top_k", "post", "/index/search", {"json": {"text": "a", "top_k": -1}}, 422),
    ("zero top_k", "post", "/index/search", {"json": {"text": "a", "top_k": 0}}, 422),
    ("huge top_k", "post", "/index/search", {"json": {"text": "a", "top_k": 10**9}}, 422),
    ("top_k as string", "post", "/index/search", {"json": {"text": "a", "top_k": "ten"}}, 422),
    ("search with two queries", "post", "/index/search", {"json": {"text": "a", "image": b64(GOOD)}}, 400),
    ("vector from another encoder", "post", "/index/search", {"json": {"vector": [0.1] * 24, "fingerprint": "someone-else"}}, 400),
    ("index add without content", "post", "/index/add", {"json": {"items": [{"id": "x"}]}}, 400),
    ("index add vector wrong dim", "post", "/index/add", {"json": {"items": [{"vector": [1.0, 2.0]}]}}, 400),
    ("index delete empty", "post", "/index/delete", {"json": {"ids": []}}, 400),
    ("classify no labels", "post", "/classify", {"json": {"images": [b64(GOOD)], "labels": []}}, 400),
    ("vqa negative max_new_tokens", "post", "/vqa", {"json": {"image": b64(GOOD), "question": "q", "max_new_tokens": -5}}, 422),
    ("vqa huge max_new_tokens", "post", "/vqa", {"json": {"image": b64(GOOD), "question": "q", "max_new_tokens": 10**6}}, 422),
    ("vqa empty question", "post", "/vqa", {"json": {"image": b64(GOOD), "question": ""}}, 400),
    ("chat with bad image", "post", "/v1/chat/completions", {"json": {"messages": MESSAGES("data:image/png;base64," + b64(b"junk"))}}, 400),
    ("chat with remote url", "post", "/v1/chat/completions", {"json": {"messages": MESSAGES("https://example.com/cat.png")}}, 400),
    ("chat with too many stop strings", "post", "/v1/chat/completions", CHAT("hi", stop=[f"s{i}" for i in range(5000)]), 400),
    ("chat with a huge stop string", "post", "/v1/chat/completions", CHAT("hi", stop="x" * 100_000), 400),
    ("chat with no messages", "post", "/v1/chat/completions", {"json": {"messages": []}}, 400),
    ("chat bad role", "post", "/v1/chat/completions", {"json": {"messages": [{"role": "robot", "content": "hi"}]}}, 422),
    ("chat n=2", "post", "/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": "hi"}], "n": 2}}, 400),
    ("embeddings empty list", "post", "/v1/embeddings", {"json": {"input": []}}, 400),
    ("embeddings token ids", "post", "/v1/embeddings", {"json": {"input": [[1, 2, 3]]}}, 400),
    ("body over limit", "post", "/embed/texts", {"content": b"{" + b" " * (17 * 1024 * 1024) + b"}", "headers": {"content-type": "application/json"}}, 413),
    ("lone surrogate in text", "post", "/embed/texts", {"content": b'{"texts": ["\\ud800"]}', "headers": {"content-type": "application/json"}}, 400),
    ("lone surrogate in metadata", "post", "/index/add", {"content": b'{"items": [{"text": "a", "metadata": {"k": "\\udfff"}}]}', "headers": {"content-type": "application/json"}}, 400),
    ("malformed image url", "post", "/embed/images", {"json": {"images": ["http://[::1/x.png"]}}, 400),
    ("svg data uri", "post", "/embed/images", {"json": {"images": ["data:image/svg+xml;base64," + b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>")]}}, 415),
    ("bad base64 in data uri", "post", "/embed/images", {"json": {"images": ["data:image/png;base64,!!!!"]}}, 400),
    ("multipart without boundary", "post", "/embed/images/upload", {"content": b"garbage", "headers": {"content-type": "multipart/form-data"}}, 400),
    ("upload field is not a file", "post", "/embed/images/upload", {"files": {"files": (None, "just text")}}, 422),
    ("too many labels", "post", "/classify", {"json": {"images": [b64(GOOD)], "labels": [f"l{i}" for i in range(300)]}}, 413),
    ("100k-char question", "post", "/vqa", {"json": {"image": b64(GOOD), "question": "why " * 25_000}}, 400),
    ("too many index items", "post", "/index/add", {"json": {"items": [{"text": "a"}] * 257}}, 413),
    ("chat seed beyond 64 bits", "post", "/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": "hi"}], "seed": 2**70}}, 422),
    ("nested json bomb", "post", "/embed/texts", {"content": b'{"texts": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "headers": {"content-type": "application/json"}}, 400),
    # invalid UTF-8 in the raw body (not only \u escapes), and UTF-16 JSON
    ("utf-8-encoded surrogate", "post", "/embed/texts", json_bytes(b'{"texts": ["\xed\xa0\x80"]}'), 400),
    ("utf-8-encoded surrogate in chat", "post", "/v1/chat/completions", json_bytes(b'{"messages": [{"role": "user", "content": "\xed\xb0\x80"}]}'), 400),
    ("utf-16 json body", "post", "/embed/texts", json_bytes('{"texts": ["\ud800"]}'.encode("utf-16-le", "surrogatepass")), 400),
    ("overlong utf-8", "post", "/index/add", json_bytes(b'{"items": [{"text": "\xc0\xaf"}]}'), 400),
    # the image placeholder inside user text, with or without image parts
    ("placeholder in chat text", "post", "/v1/chat/completions", CHAT("what is <image> here?"), 400),
    ("placeholder with an image part", "post", "/v1/chat/completions",
     CHAT([{"type": "image_url", "image_url": {"url": data_uri(GOOD)}}, {"type": "text", "text": "<image> what?"}]), 400),
    ("placeholder in a system message", "post", "/v1/chat/completions",
     {"json": {"messages": [{"role": "system", "content": "<image>"}, {"role": "user", "content": "hi"}]}}, 400),
    ("two placeholders for one vqa image", "post", "/vqa", {"json": {"image": b64(GOOD), "question": "<image> <image>"}}, 400),
    # non-finite numbers into index metadata
    ("NaN in metadata", "post", "/index/add", json_bytes(b'{"items": [{"text": "a", "metadata": {"x": NaN}}]}'), 400),
    ("Infinity in metadata", "post", "/index/add", json_bytes(b'{"items": [{"text": "a", "metadata": {"x": [-Infinity]}}]}'), 400),
    ("1e400 in metadata", "post", "/index/add", json_bytes(b'{"items": [{"text": "a", "metadata": {"x": {"y": 1e400}}}]}'), 400),
    ("NaN in a vector", "post", "/index/add", json_bytes(b'{"items": [{"vector": [NaN]}]}'), 400),
    ("NaN temperature", "post", "/v1/chat/completions", json_bytes(b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'), 422),
    # URLs on an allow-listed host: control characters, whitespace, huge
    ("url with a control character", "post", "/embed/images", {"json": {"images": [LOOPBACK + "a\x01b.png"]}}, 400),
    ("url with a newline", "post", "/embed/images", {"json": {"images": [LOOPBACK + "a\r\nHost: evil.png"]}}, 400),
    ("url with a space", "post", "/embed/images", {"json": {"images": [LOOPBACK + "a b.png"]}}, 400),
    ("70k-char url", "post", "/embed/images", {"json": {"images": [LOOPBACK + "a" * 70_000]}}, 400),
    ("70k-char url in chat", "post", "/v1/chat/completions", {"json": {"messages": MESSAGES(LOOPBACK + "a" * 70_000)}}, 400),
    ("url with a bad port", "post", "/embed/images", {"json": {"images": ["http://127.0.0.1:99999/a.png"]}}, 400),
    ("unreachable allow-listed host", "post", "/embed/images", {"json": {"images": [LOOPBACK + "a.png"]}}, 400),
    # cost bounds: image sides and aspect ratio (before decoding), prompt tokens
    ("3x8000 strip", "post", "/embed/images", {"json": {"images": [b64(png_of(3, 8000))]}}, 400),
    ("8000x3 strip upload", "post", "/embed/images/upload", {"files": {"files": ("s.png", png_of(8000, 3), "image/png")}}, 400),
    ("side over 8192", "post", "/embed/images", {"json": {"images": [b64(png_of(9000, 600))]}}, 413),
    ("strip as a chat image", "post", "/v1/chat/completions", {"json": {"messages": MESSAGES(data_uri(png_of(4, 4000)))}}, 400),
    ("chat prompt over the token limit", "post", "/v1/chat/completions",
     {"json": {"messages": [{"role": "user", "content": "why is the sky blue " * 90}] * 60}}, 413),
    ("unknown route", "get", "/nope", {}, 404),
    ("wrong method", "get", "/embed/texts", {}, 405),
]


@pytest.mark.parametrize("name,method,path,kwargs,expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_request_gets_clear_4xx(server, name, method, path, kwargs, expected):
    with server.client() as client:
        response = getattr(client, method)(path, **kwargs)
    assert response.status_code == expected, (name, response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and len(error["message"]) > 10


def test_corpus_is_big_enough_and_service_healthy_after(server):
    assert len(CORPUS) + len(AUTH_CORPUS) >= 30 and len(CORPUS) >= 30
    with server.client() as client:
        assert client.get("/readyz").status_code == 200
        assert client.post("/embed/texts", json={"texts": ["still fine"]}).status_code == 200


AUTH_CORPUS = [  # (name, headers) against the API-key server: every one is a 401
    ("no authorization header", {}),
    ("wrong key", {"authorization": "Bearer sesamE"}),
    ("basic scheme", {"authorization": "Basic sesame"}),
    ("bearer without token", {"authorization": "Bearer"}),
    ("key without scheme", {"authorization": "sesame"}),
]


@pytest.mark.parametrize("name,headers", AUTH_CORPUS, ids=[c[0] for c in AUTH_CORPUS])
def test_bad_auth_is_401_with_the_envelope(locked_server, name, headers):
    with locked_server.client(**headers) as client:
        response = client.post("/v1/embeddings", json={"input": "a"})
    assert response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer"
    assert response.json()["error"]["type"] == "authentication_error"


def test_api_key_guards_everything_but_health(locked_server):
    with locked_server.client() as anonymous:
        assert anonymous.get("/livez").status_code == 200 and anonymous.get("/readyz").status_code == 200
        for path in ("/v1/models", "/index/count"):
            response = anonymous.get(path)
            assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
        assert anonymous.post("/embed/texts", json={"texts": ["a"]}).status_code == 401
        wrong = anonymous.post("/embed/texts", json={"texts": ["a"]}, headers={"authorization": "Bearer sesamE"})
        assert wrong.status_code == 401
        assert anonymous.post("/embed/texts", json={"texts": ["a"]}, headers={"authorization": "Basic sesame"}).status_code == 401
    with locked_server.client(authorization="Bearer sesame") as client:
        assert client.post("/embed/texts", json={"texts": ["a"]}).status_code == 200


def test_without_mllm_vqa_and_chat_answer_503(locked_server):
    with locked_server.client(authorization="Bearer sesame") as client:
        vqa = client.post("/vqa", json={"image": b64(GOOD), "question": "what?"})
        chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        for response in (vqa, chat):
            assert response.status_code == 503 and "--mllm" in response.json()["error"]["message"]
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["tiny-clip"]


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json", "/info", "/v1/models"])
def test_metrics_docs_and_info_follow_the_key_policy(locked_server, path):
    with locked_server.client() as client:
        denied = client.get(path)
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
        assert client.get(path, headers={"authorization": "Bearer sesame"}).status_code == 200


def test_info_shows_no_server_paths_without_a_key(server, locked_server, artifacts):
    with server.client() as client:
        info = client.get("/info")
    assert artifacts["encoder"] not in info.text and str(artifacts["root"]) not in info.text
    assert info.json()["encoder"]["spec"] == "tiny-clip" and info.json()["mllm"]["spec"] == "tiny-llava"
    with locked_server.client(authorization="Bearer sesame") as client:  # a keyed caller sees the full spec
        assert client.get("/info").json()["encoder"]["spec"] == artifacts["encoder"]

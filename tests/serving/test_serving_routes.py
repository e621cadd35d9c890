"""Every route over real HTTP against a live standalone server (tiny encoder + tiny MLLM)."""
import base64
import json

import numpy as np

from conftest import data_uri, png_bytes

IMG = data_uri(png_bytes(seed=1))


def test_health_info_models_openapi_metrics(server):
    with server.client() as client:
        assert client.get("/livez").json()["status"] == "alive"
        ready = client.get("/readyz").json()
        assert ready["components"] == {"encoder": "ok", "mllm": "ok", "index": "ok"}
        assert {m["id"] for m in client.get("/v1/models").json()["data"]} == {"tiny-clip", "tiny-llava"}
        spec = client.get("/openapi.json").json()
        for path in ("/embed/images", "/embed/texts", "/classify", "/index/add", "/index/search", "/index/delete",
                     "/index/count", "/vqa", "/v1/embeddings", "/v1/chat/completions", "/v1/models"):
            assert path in spec["paths"], path
        client.post("/embed/texts", json={"texts": ["warm"]})
        metrics = client.get("/metrics").text
        assert 'openeyes_requests_total{route="/embed/texts",status="200"}' in metrics


def test_embeddings_json_and_multipart_agree_and_are_normalized(server):
    with server.client() as client:
        by_json = client.post("/embed/images", json={"images": [IMG, base64.b64encode(png_bytes(seed=2)).decode()]}).json()
        files = [("files", ("a.png", png_bytes(seed=1), "image/png")), ("files", ("b.png", png_bytes(seed=2), "image/png"))]
        by_upload = client.post("/embed/images/upload", files=files).json()
        a, b = np.array(by_json["embeddings"]), np.array(by_upload["embeddings"])
        assert a.shape == (2, by_json["dim"]) and np.allclose(a, b, atol=1e-5)
        assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-4) and not np.allclose(a[0], a[1])
        texts = client.post("/embed/texts", json={"texts": ["a red circle", "a blue square"]}).json()
        assert np.array(texts["embeddings"]).shape == (2, by_json["dim"])


def test_zero_shot_json_and_upload(server):
    with server.client() as client:
        out = client.post("/classify", json={"images": [IMG], "labels": ["circle", "square", "star"],
                                             "templates": ["a photo of a {}.", "a {}"]}).json()
        probs = out["results"][0]["probabilities"]
        assert set(probs) == {"circle", "square", "star"} and abs(sum(probs.values()) - 1) < 1e-4
        assert out["results"][0]["label"] == max(probs, key=probs.get)
        upload = client.post("/classify/upload", files={"file": ("x.png", png_bytes(seed=1), "image/png")},
                             data={"labels": "circle, square, star", "templates": "a photo of a {}.|a {}"}).json()
        assert upload["results"][0]["probabilities"] == probs


def test_index_add_search_delete_count(server):
    with server.client() as client:
        start = client.get("/index/count").json()["count"]
        added = client.post("/index/add", json={"items": [
            {"id": "circle", "text": "a red circle", "metadata": {"k": 1}},
            {"id": "img", "image": IMG},
            {"text": "a blue square"}]}).json()
        assert added["ids"][:2] == ["circle", "img"] and added["count"] == start + 3
        hit = client.post("/index/search", json={"text": "a red circle", "top_k": 2}).json()["results"][0]
        assert hit["id"] == "circle" and hit["metadata"] == {"k": 1} and hit["score"] > 0.99
        by_image = client.post("/index/search", json={"image": IMG, "top_k": 1}).json()["results"][0]
        assert by_image["id"] == "img"
        info = client.get("/index/count").json()
        vector = client.post("/embed/texts", json={"texts": ["a red circle"]}).json()["embeddings"][0]
        by_vector = client.post("/index/search", json={"vector": vector, "fingerprint": info["fingerprint"], "top_k": 1}).json()
        assert by_vector["results"][0]["id"] == "circle"
        assert client.post("/index/delete", json={"ids": ["circle", "nope"]}).json()["deleted"] == 1
        assert client.get("/index/count").json()["count"] == start + 2


def test_vqa_plain_upload_and_stream(server):
    with server.client() as client:
        plain = client.post("/vqa", json={"image": IMG, "question": "What color is the circle?", "max_new_tokens": 6}).json()
        assert plain["model"] == "tiny-llava" and isinstance(plain["answer"], str)
        upload = client.post("/vqa/upload", files={"file": ("x.png", png_bytes(seed=1), "image/png")},
                             data={"question": "What color is the circle?", "max_new_tokens": "6"}).json()
        assert upload["answer"] == plain["answer"]  # greedy: same image, same question
        with client.stream("POST", "/vqa", json={"image": IMG, "question": "What color is the circle?",
                                                  "max_new_tokens": 6, "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2]) == {"done": True}
        assert "".join(json.loads(e)["delta"] for e in events[:-2]) == plain["answer"]


def test_openai_embeddings_text_and_image(server):
    with server.client() as client:
        out = client.post("/v1/embeddings", json={"input": ["a red circle", IMG], "model": "tiny-clip"}).json()
        assert out["object"] == "list" and [d["index"] for d in out["data"]] == [0, 1]
        native_text = client.post("/embed/texts", json={"texts": ["a red circle"]}).json()["embeddings"][0]
        native_image = client.post("/embed/images", json={"images": [IMG]}).json()["embeddings"][0]
        assert np.allclose(out["data"][0]["embedding"], native_text, atol=1e-5)
        assert np.allclose(out["data"][1]["embedding"], native_image, atol=1e-5)
        b64 = client.post("/v1/embeddings", json={"input": "a red circle", "encoding_format": "base64"}).json()
        decoded = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype=np.float32)
        assert np.allclose(decoded, native_text, atol=1e-5)


def test_openai_chat_completions_plain_and_streaming(server):
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMG}},
                                             {"type": "text", "text": "What color is the circle?"}]}]
    with server.client() as client:
        plain = client.post("/v1/chat/completions", json={"messages": messages, "max_tokens": 6}).json()
        assert plain["object"] == "chat.completion" and plain["choices"][0]["message"]["role"] == "assistant"
        text = plain["choices"][0]["message"]["content"]
        vqa = client.post("/vqa", json={"image": IMG, "question": "What color is the circle?", "max_new_tokens": 6}).json()
        assert text == vqa["answer"]  # same prompt through both routes
        with client.stream("POST", "/v1/chat/completions", json={"messages": messages, "max_tokens": 6, "stream": True}) as r:
            events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
        chunks = [json.loads(e) for e in events[:-1]]
        assert events[-1] == "[DONE]" and all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]  # "length" at the cap too
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text


def test_ui_page_loads_with_its_tabs(server):
    with server.client() as client:
        page = client.get("/ui/")
        assert page.status_code == 200 and "gradio" in page.text.lower() and len(page.text) > 10_000
        config = client.get("/ui/config")
        assert config.status_code == 200
        labels = json.dumps(config.json())
        for tab in ("Embeddings", "Zero-shot", "Retrieval", "VQA", "Compare encoders"):
            assert tab in labels, tab

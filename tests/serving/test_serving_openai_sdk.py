"""The OpenAI-compatible routes driven by the real ``openai`` Python package, as a stock client
would: chat plain and streamed with image and text parts in either order, usage and finish
reasons, model ids, the standard request fields, the SDK's default base64 embeddings, and
errors raised as the SDK's own exception classes. The server runs the zoo's trained
tiny-llava: a random model answers the same whatever the prompt, a trained one does not."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import data_uri, start_standalone

openai = pytest.importorskip("openai", reason="the openai package (dev extra) runs these tests")

QUESTION = "What color is the circle? Answer with one word."


def circle_png() -> bytes:
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((10, 10, 50, 50), fill=(255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE = data_uri(circle_png())


def sdk(live, key="unused"):
    return openai.OpenAI(base_url=live.url + "/v1", api_key=key, max_retries=0, timeout=120)


def user(*parts):
    return [{"role": "user", "content": list(parts)}]


TEXT = {"type": "text", "text": QUESTION}
PICTURE = {"type": "image_url", "image_url": {"url": IMAGE}}


@pytest.fixture(scope="module")
def zoo_server():
    """The zoo's tiny-clip and trained tiny-llava, no API key, no UI."""
    from openeyes.zoo_registry import entries

    if not all(entries()[name].built for name in ("tiny-clip", "tiny-llava")):
        pytest.skip("the zoo's tiny-clip/tiny-llava are not built")
    live = start_standalone(encoder="zoo:tiny-clip", mllm="zoo:tiny-llava", ui="0")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def server(zoo_server):
    return zoo_server


@pytest.fixture(scope="module")
def chat_model(server):
    return sdk(server).models.list().data[0].id


@pytest.fixture(scope="module")
def encoder_model(server):
    return sdk(server).models.list().data[-1].id


def test_part_order_gives_the_same_answer_and_prompt(server, chat_model):
    client = sdk(server)
    image_first = client.chat.completions.create(model=chat_model, messages=user(PICTURE, TEXT), max_tokens=8)
    text_first = client.chat.completions.create(model=chat_model, messages=user(TEXT, PICTURE), max_tokens=8)
    assert text_first.choices[0].message.content == image_first.choices[0].message.content
    assert text_first.usage.prompt_tokens == image_first.usage.prompt_tokens > 0
    streamed = client.chat.completions.create(model=chat_model, messages=user(TEXT, PICTURE), max_tokens=8, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == image_first.choices[0].message.content
    text_only = client.chat.completions.create(model=chat_model, messages=user(TEXT), max_tokens=1)
    assert text_only.usage.prompt_tokens < image_first.usage.prompt_tokens  # the image's tokens are counted


def test_usage_and_finish_reason_plain_and_streamed(server, chat_model):
    client = sdk(server)
    plain = client.chat.completions.create(model=chat_model, messages=user(PICTURE, TEXT), max_tokens=2)
    assert plain.choices[0].finish_reason == "length" and plain.usage.completion_tokens == 2
    assert plain.usage.total_tokens == plain.usage.prompt_tokens + 2
    chunks = list(client.chat.completions.create(model=chat_model, messages=user(PICTURE, TEXT), max_tokens=2, stream=True,
                                                 stream_options={"include_usage": True}))
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == plain.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[0].choices[0].delta.role == "assistant"
    without = list(client.chat.completions.create(model=chat_model, messages=user(PICTURE, TEXT), max_tokens=2, stream=True))
    assert all(c.choices for c in without) and [c.choices[0].finish_reason for c in without][-1] == "length"


def test_models_and_unknown_model(server, chat_model):
    client = sdk(server)
    ids = [m.id for m in client.models.list().data]
    assert client.models.retrieve(chat_model).id == chat_model and len(ids) == 2
    with pytest.raises(openai.NotFoundError) as found:
        client.chat.completions.create(model="gpt-4o", messages=user(TEXT), max_tokens=2)
    assert found.value.body["code"] == "model_not_found" and found.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="a red circle")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    with pytest.raises(openai.BadRequestError):  # a served model of the other kind
        client.embeddings.create(model=chat_model, input="a red circle")


def test_standard_fields_are_accepted(server, chat_model):
    reply = sdk(server).chat.completions.create(
        model=chat_model, messages=[{"role": "developer", "content": "Answer briefly."}] + user(TEXT, PICTURE), max_tokens=3,
        frequency_penalty=0, presence_penalty=0, logit_bias={}, seed=7, user="someone", n=1,
        response_format={"type": "text"}, metadata={"run": "1"}, store=False, logprobs=False, temperature=None, top_p=None)
    assert reply.choices[0].message.role == "assistant" and reply.usage.prompt_tokens > 0


@pytest.mark.parametrize("extra, param", [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}, "tools"),
    ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ({"n": 2}, "n"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"logit_bias": {"5": 10}}, "logit_bias"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
])
def test_unsupported_features_are_a_clear_400(server, chat_model, extra, param):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(server).chat.completions.create(model=chat_model, messages=user(TEXT), max_tokens=2, **extra)
    assert refused.value.body["param"] == param and refused.value.body["type"] == "invalid_request_error"
    assert param in refused.value.body["message"]


def test_embeddings_base64_default_tokens_and_dimensions(server, encoder_model):
    client = sdk(server)
    default = client.embeddings.create(model=encoder_model, input=["a red circle", IMAGE])  # the SDK asks for base64
    floats = client.embeddings.create(model=encoder_model, input=["a red circle", IMAGE], encoding_format="float")
    for a, b in zip(default.data, floats.data):
        assert np.allclose(a.embedding, b.embedding, atol=1e-6)
        assert abs(np.linalg.norm(a.embedding) - 1) < 1e-4
    assert default.usage.prompt_tokens == floats.usage.prompt_tokens > 2
    dim = len(default.data[0].embedding)
    assert len(client.embeddings.create(model=encoder_model, input="a star", dimensions=dim).data[0].embedding) == dim
    with pytest.raises(openai.BadRequestError) as shortened:
        client.embeddings.create(model=encoder_model, input="a star", dimensions=dim // 2)
    assert shortened.value.body["param"] == "dimensions"
    for tokens in ([5, 6, 7], [[5, 6], [7]]):
        with pytest.raises(openai.BadRequestError) as refused:
            client.embeddings.create(model=encoder_model, input=tokens)
        assert refused.value.body["param"] == "input" and "token" in refused.value.body["message"]


def test_errors_are_the_sdk_exception_classes(server, locked_server, chat_model):
    encoder_model = sdk(locked_server, key="sesame").models.list().data[0].id
    with pytest.raises(openai.AuthenticationError) as denied:
        sdk(locked_server, key="wrong").embeddings.create(model=encoder_model, input="a star")
    assert denied.value.body["type"] == "authentication_error"
    assert sdk(locked_server, key="sesame").embeddings.create(model=encoder_model, input="a star").data
    with pytest.raises(openai.BadRequestError):
        sdk(server).chat.completions.create(model=chat_model, messages=user({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}, TEXT))
    with pytest.raises(openai.UnprocessableEntityError):
        sdk(server).chat.completions.create(model=chat_model, messages=[{"role": "robot", "content": "hi"}])
    with pytest.raises(openai.InternalServerError) as unavailable:  # no MLLM on the locked server: 503
        sdk(locked_server, key="sesame").chat.completions.create(model="x", messages=user(TEXT))
    assert unavailable.value.status_code == 503

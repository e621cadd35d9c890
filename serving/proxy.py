"""VQA and chat through a remote OpenAI-compatible engine (``openeyes serve --mllm http://HOST:PORT``).

The scale-out path: generation runs in another server (``vllm serve`` on the exported MLLM
directory, or another ``openeyes serve``) and this service forwards each job to its
``/v1/chat/completions`` (images as PNG data URIs, via ``openeyes.mllm.openai_backend``).
``ProxyMLLMRuntime`` has the same methods as ``runtime.MLLMRuntime``, so the routes, the
batcher and the UI do not know the difference. Streaming relays the engine's SSE chunks.

Failures of the engine (unreachable, 5xx after retries, a refusal) are answered 503 with the
engine's message: the request was valid here, the backend could not serve it.
"""
from __future__ import annotations

import json
from typing import Any, Iterator, Sequence

from openeyes.errors import UserError
from openeyes.serving.errors import ApiError


def is_remote_spec(spec: str | None) -> bool:
    """An MLLM spec naming an OpenAI-compatible endpoint rather than a local directory."""
    return bool(spec) and spec.strip().lower().startswith(("http://", "https://"))


class ProxyMLLMRuntime:
    """An ``MLLMRuntime`` look-alike over an OpenAI-compatible chat endpoint."""

    def __init__(self, url: str, *, api_key: str | None = None, model: str | None = None, timeout: float = 120.0):
        from openeyes.mllm.openai_backend import OpenAIChatMLLM

        self.spec = url
        self.client = OpenAIChatMLLM(url, model=model, api_key=api_key, timeout=timeout, max_retries=2, concurrency=8)
        self._api_key = api_key
        self._timeout = timeout
        self._model: str | None = model

    @property
    def name(self) -> str:
        """The engine's model name (asked from its ``/v1/models`` once; the URL while it cannot answer)."""
        if self._model is None:
            try:
                self._model = self.client.model
            except UserError:
                return self.spec
        return self._model

    def generate_jobs(self, jobs: Sequence[Any]) -> list[Any]:
        """One upstream call per job (run concurrently by the backend), ``Completion``s in job order."""
        from concurrent.futures import ThreadPoolExecutor

        def one(job: Any) -> Any:
            return self.client.generate_completions([job.request], job.params())[0]

        try:
            if len(jobs) == 1:
                return [one(jobs[0])]
            with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
                return list(pool.map(one, jobs))
        except UserError as problem:
            raise ApiError(503, f"the VQA engine at {self.spec} failed: {problem}") from None

    def stream(self, job: Any) -> Iterator[Any]:
        """Text pieces relayed from the engine's SSE stream, then a ``Completion`` (the engine's usage)."""
        import httpx

        from openeyes.mllm.protocol import Completion

        body = self.client.payload(job.request, job.params())
        body.update(stream=True, stream_options={"include_usage": True})
        final = Completion("")
        headers = {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        url = self.client.root + "/v1/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=self._timeout) as response:
                if response.status_code != 200:
                    response.read()
                    raise ApiError(503, f"the VQA engine at {self.spec} answered HTTP {response.status_code}: {response.text[:300]}")
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line[len("data: "):].strip()
                    if data == "[DONE]":
                        break
                    piece = _chunk_text(data, final)
                    if piece:
                        final.text += piece
                        yield piece
        except httpx.HTTPError as problem:
            raise ApiError(503, f"the VQA engine at {self.spec} is unreachable: {problem}") from None
        yield final

    def probe(self) -> None:
        """A one-token completion through the engine; raises when it cannot answer."""
        from PIL import Image

        from openeyes.mllm.protocol import as_request
        from openeyes.serving.runtime import GenerationJob

        self.generate_jobs([GenerationJob(as_request((Image.new("RGB", (16, 16)), "probe")), max_new_tokens=1)])

    def close(self) -> None:
        self.client.close()


def _chunk_text(data: str, final: Any) -> str:
    """The content delta of one ``chat.completion.chunk`` (an in-band error becomes a 503).

    Its usage and finish reason, when it has them, are written into ``final`` (a ``Completion``)."""
    try:
        chunk = json.loads(data)
    except ValueError:
        return ""
    if isinstance(chunk, dict) and "error" in chunk:
        message = chunk["error"].get("message") if isinstance(chunk["error"], dict) else chunk["error"]
        raise ApiError(503, f"the VQA engine failed while streaming: {message}")
    usage = chunk.get("usage") if isinstance(chunk, dict) else None
    if isinstance(usage, dict):
        final.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        final.completion_tokens = int(usage.get("completion_tokens") or 0)
    try:
        if chunk["choices"][0].get("finish_reason") == "length":
            final.finish_reason = "length"
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    try:
        return chunk["choices"][0]["delta"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""

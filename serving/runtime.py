"""The models behind the service as plain Python objects (no web framework), testable in process.

``ServeConfig`` says what to serve; ``Runtime.load(config)`` loads the encoder, the optional
MLLM and the retrieval index, and starts one micro-batcher per model call kind (image
embeddings, text embeddings, generation). The HTTP layer (``serving.api``) and the Gradio UI
(``serving.ui``) only call the async methods here.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from openeyes.serving.batching import BatchPolicy, MicroBatcher
from openeyes.serving.errors import ApiError
from openeyes.serving.limits import Limits

DEFAULT_ENCODER = "zoo:tiny-clip"
DEFAULT_MLLM = "zoo:tiny-llava"  # used only when that zoo model exists and is built
AUTO = "auto"
MIN_SAMPLING_TEMPERATURE = 1e-2  # below this, sampling is decoded greedily (its limit): logits / 1e-300 overflow


@dataclass
class ServeConfig:
    """What ``openeyes serve`` serves (every field has a CLI option and an env variable)."""

    encoder: str = DEFAULT_ENCODER  # encoder spec (zoo:NAME, artifact dir, HF dir/id, open_clip:...)
    mllm: str = AUTO  # MLLM directory, zoo:NAME, http(s):// OpenAI-compatible engine, "auto" (zoo tiny-llava if built) or "none"
    mllm_api_key: str | None = None  # bearer key sent to a remote (http) MLLM engine
    index_dir: str | None = None  # retrieval index: folder (FAISS), postgresql:// URL (shared), None (in memory)
    api_key: str | None = None  # bearer token required on every non-health route when set
    compare_encoders: list[str] = field(default_factory=lambda: ["auto"])  # the only encoders the UI's compare view may load ("auto", "none" or specs; serving.compare_encoders)
    compare_cache: int = 2  # compare encoders held in memory at once besides the served one
    ui: bool = True  # mount the Gradio UI at /ui
    limits: Limits = field(default_factory=Limits)
    # A lone request starts after idle_gap_ms; a burst is gathered for up to max_wait_ms. (Under 32 closed-loop
    # clients the image batches still alternate large and small, with the fixed 5 ms wait as with this: the requests
    # queued during one model call form the next batch. Batch 8 vs 32 cost ~5 % per image, in-process.)
    embed_batching: BatchPolicy = field(default_factory=lambda: BatchPolicy(max_batch=64, max_wait_ms=25, max_queue=4096, idle_gap_ms=3))
    # Generation also holds a batch up to 100 ms after the previous one for that batch's callers (refill_ms): 16
    # closed-loop VQA clients otherwise alternated two half batches (mean 8.1 -> 16.0, /vqa 76 -> 107 req/s measured).
    generate_batching: BatchPolicy = field(default_factory=lambda: BatchPolicy(max_batch=16, max_wait_ms=25, max_queue=512, idle_gap_ms=3, refill_ms=100))
    torch_threads: int | None = None  # torch intra-op threads (None: torch's default)
    engine: str = "torch"  # encoder engine: "torch" or "onnx-int8" (int8 onnxruntime towers, CPU; openeyes.encoders.onnx_engine)
    access_log: bool = False  # a log line per request (BentoML's access log); off: it costs the event loop a fifth on small requests


def resolve_mllm_spec(spec: str | None) -> str | None:
    """``auto`` -> the zoo's tiny-llava when built, else None; ``none``/empty -> None; URLs as given."""
    from openeyes.serving.proxy import is_remote_spec

    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return None
    if is_remote_spec(spec):
        from openeyes.mllm.openai_backend import api_root

        return api_root(spec)
    if spec == AUTO:
        from openeyes.zoo_registry import entries

        found = entries().get(DEFAULT_MLLM.split(":", 1)[1])
        return str(found.path) if found is not None and found.built else None
    from openeyes.zoo_registry import resolve

    return resolve(spec)


def encoder_fingerprint(spec: str) -> str:
    """The card hash of an encoder artifact; for other specs a hash of the spec (marked as such)."""
    from openeyes.artifacts import CARD_NAME, card_fingerprint, read_card
    from openeyes.zoo_registry import resolve

    path = Path(resolve(spec)).expanduser()
    if (path / CARD_NAME).is_file():
        return card_fingerprint(read_card(path, verify=False))
    return "spec-" + hashlib.sha256(str(spec).encode()).hexdigest()[:16]


class EncoderRuntime:
    """An ``Encoder`` with numpy-in/numpy-out helpers: L2-normalized embeddings [B, D] float32."""

    def __init__(self, spec: str, engine: str = "torch"):
        import torch

        from openeyes.encoders.loading import load_encoder

        self.spec = spec
        self.engine = engine
        self.encoder = load_encoder(spec, engine=engine)
        self.name = getattr(self.encoder, "name", None) or Path(spec).name
        self.dim = int(self.encoder.embed_dim)
        self.fingerprint = encoder_fingerprint(spec)
        self.logit_scale = float(self.encoder.logit_scale.detach().exp().clamp(max=100.0))
        self._torch = torch

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            pixels = self.encoder.preprocess(list(images))  # [B, 3, S, S]
            emb = self.encoder.encode_image(pixels)  # [B, D]
            return torch.nn.functional.normalize(emb.float(), dim=-1).numpy()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tokens = self.encoder.tokenize(list(texts))  # {"input_ids": [B, L], ...}
            emb = self.encoder.encode_text(tokens)  # [B, D]
            return torch.nn.functional.normalize(emb.float(), dim=-1).numpy()

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the text tower reads for ``texts`` (after truncation to its context)."""
        return int(self.encoder.tokenize(list(texts))["attention_mask"].sum())

    def probe(self) -> None:
        """One tiny forward pass of each tower; raises when the model is unusable."""
        from PIL import Image

        image = self.embed_images([Image.new("RGB", (16, 16), (127, 127, 127))])
        text = self.embed_texts(["probe"])
        if not (np.isfinite(image).all() and np.isfinite(text).all()):
            raise RuntimeError(f"encoder {self.name} produced non-finite embeddings")


@dataclass
class GenerationJob:
    """One VQA/chat generation: the request (images + messages) and how to decode it."""

    request: Any  # openeyes.mllm.protocol.GenerationRequest
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < MIN_SAMPLING_TEMPERATURE:
            self.temperature = 0.0

    def params_key(self) -> tuple:
        return (self.max_new_tokens, self.temperature, self.top_p, self.stop, self.seed)

    def params(self) -> Any:
        """The job's ``openeyes.mllm.protocol.SamplingParams``."""
        from openeyes.mllm.protocol import SamplingParams

        return SamplingParams(self.max_new_tokens, self.temperature, self.top_p, list(self.stop), self.seed)


class MLLMRuntime:
    """A ``TransformersMLLM`` with batched jobs (grouped by sampling params) and token streaming."""

    def __init__(self, spec: str):
        from openeyes.mllm.local import TransformersMLLM

        self.spec = spec
        self.mllm = TransformersMLLM.from_pretrained(spec)
        self.name = self.mllm.name
        self._lock = threading.Lock()  # generate() and stream() share one model

    def generate_jobs(self, jobs: Sequence[GenerationJob]) -> list[Any]:
        """One ``Completion`` per job (same order); jobs with equal sampling params share a batch."""
        groups: dict[tuple, list[int]] = {}
        for position, job in enumerate(jobs):
            groups.setdefault(job.params_key(), []).append(position)
        answers: list[Any] = [None] * len(jobs)
        with self._lock:
            for key, positions in groups.items():
                completions = self.mllm.generate_completions([jobs[p].request for p in positions], jobs[positions[0]].params(),
                                                             batch_size=len(positions))  # the batcher's policy bounds it
                for position, completion in zip(positions, completions):
                    answers[position] = completion
        return answers

    def stream(self, job: GenerationJob) -> Iterator[Any]:
        """Text pieces as the model produces them (one request, not batched), then the ``Completion``."""
        import torch
        from transformers import TextIteratorStreamer

        from openeyes.mllm.protocol import cut_at_stop

        mllm = self.mllm
        params = job.params()
        inputs = mllm.encode([job.request])
        streamer = TextIteratorStreamer(mllm.tokenizer, skip_prompt=True, skip_special_tokens=True)
        options = dict(mllm.generation_options(params, inputs["input_ids"].shape[1]), streamer=streamer)
        failure: list[BaseException] = []
        output: list[Any] = []

        def produce() -> None:
            try:
                with self._lock, torch.inference_mode(), torch.random.fork_rng(devices=[]):
                    if job.seed is not None:
                        torch.manual_seed(job.seed)
                    output.append(mllm.model.generate(**inputs, **options))  # [1, L + new]
            except BaseException as problem:  # surfaced to the consumer below
                failure.append(problem)
                streamer.end()

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        produced = ""
        for piece in streamer:
            if job.stop:
                cut = cut_at_stop(produced + piece, job.stop)
                if len(cut) < len(produced + piece):
                    if len(cut) > len(produced):
                        yield cut[len(produced):]
                    break
            produced += piece
            if piece:
                yield piece
        worker.join()
        if failure:
            raise failure[0]
        yield mllm.completions(inputs, output[0], params)[0]

    def count_tokens(self, text: str) -> int:
        return len(self.mllm.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    def prompt_tokens(self, job: GenerationJob) -> int:
        """Tokens the model reads for ``job``: the chat-templated text plus each image's tokens."""
        text = self.mllm.prompt_text(job.request)  # one placeholder token per image
        per_image = int(getattr(self.mllm.model.config, "image_seq_length", 1) or 1)
        return self.count_tokens(text) + len(job.request.images) * (per_image - 1)

    def probe(self) -> None:
        from PIL import Image

        from openeyes.mllm.protocol import as_request

        self.generate_jobs([GenerationJob(as_request((Image.new("RGB", (16, 16)), "probe")), max_new_tokens=1)])


class Runtime:
    """Everything the routes need: models, index, batchers, limits, readiness."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.limits = config.limits
        self.encoder: EncoderRuntime | None = None
        self.mllm: Any = None  # MLLMRuntime, or serving.proxy.ProxyMLLMRuntime for a remote engine
        self.mllm_spec: str | None = None
        self.index = None
        self.compare = None  # serving.compare_encoders.CompareEncoders: what the UI's compare view may load
        self._image_batcher: MicroBatcher | None = None
        self._text_batcher: MicroBatcher | None = None
        self._generate_batcher: MicroBatcher | None = None

    @classmethod
    def load(cls, config: ServeConfig) -> "Runtime":
        from openeyes.serving.stores import open_store

        if config.torch_threads:
            import torch

            torch.set_num_threads(config.torch_threads)
        runtime = cls(config)
        runtime.encoder = EncoderRuntime(config.encoder, engine=config.engine)
        runtime.mllm_spec = resolve_mllm_spec(config.mllm)
        if runtime.mllm_spec is not None:
            from openeyes.serving.proxy import ProxyMLLMRuntime, is_remote_spec

            runtime.mllm = (ProxyMLLMRuntime(runtime.mllm_spec, api_key=config.mllm_api_key) if is_remote_spec(runtime.mllm_spec)
                            else MLLMRuntime(runtime.mllm_spec))
        runtime.index = open_store(config.index_dir, dim=runtime.encoder.dim,
                                   fingerprint=runtime.encoder.fingerprint, encoder_name=runtime.encoder.name)
        from openeyes.serving.compare_encoders import CompareEncoders

        runtime.compare = CompareEncoders(config.encoder, config.compare_encoders, lambda: runtime.encoder, EncoderRuntime,
                                          config.compare_cache)
        encoder = runtime.encoder
        runtime._image_batcher = MicroBatcher(encoder.embed_images, config.embed_batching, "image-embedding")
        runtime._text_batcher = MicroBatcher(encoder.embed_texts, config.embed_batching, "text-embedding")
        if runtime.mllm is not None:
            runtime._generate_batcher = MicroBatcher(runtime.mllm.generate_jobs, config.generate_batching, "generation")
        return runtime

    # -- readiness -------------------------------------------------------------------------------
    def probe_models(self) -> dict[str, str]:
        """One tiny forward pass of each model; {"encoder"|"mllm": "ok" | "not configured" | "failed: ..."}."""
        report = {}
        for label, model in (("encoder", self.encoder), ("mllm", self.mllm)):
            if model is None:
                report[label] = "not configured"
                continue
            try:
                model.probe()
                report[label] = "ok"
            except Exception as problem:  # readiness reports it; the probe must not crash the route
                report[label] = f"failed: {problem}"
        return report

    def probe_index(self) -> dict[str, str]:
        """{"index": "ok" | "not loaded" | "failed: ..."}; cheap (a shared store answers ``SELECT 1``)."""
        if self.index is None:
            return {"index": "not loaded"}
        try:
            self.index.probe()
        except ApiError as problem:  # e.g. the index database is down
            return {"index": f"failed: {problem.message}"}
        return {"index": "ok"}

    # -- batched model calls ----------------------------------------------------------------------
    async def embed_images(self, images: list[Any]) -> np.ndarray:
        rows = await self._image_batcher.submit_many(images)
        return np.stack(rows)  # [B, D]

    async def embed_texts(self, texts: list[str]) -> np.ndarray:
        rows = await self._text_batcher.submit_many(texts)
        return np.stack(rows)  # [B, D]

    async def complete(self, job: GenerationJob) -> Any:
        """The job's ``openeyes.mllm.protocol.Completion`` (text, token counts, finish reason)."""
        self.require_mllm()
        return await self._generate_batcher.submit(job)

    async def generate(self, job: GenerationJob) -> str:
        return (await self.complete(job)).text

    def require_mllm(self) -> Any:
        if self.mllm is None:
            raise ApiError(503, "no MLLM is configured on this server: start it with --mllm DIR (an exported MLLM "
                                "directory) to enable VQA and chat completions")
        return self.mllm

    async def zero_shot(self, images: list[Any], labels: list[str], templates: list[str]) -> np.ndarray:
        """Probabilities [B, n_labels]: softmax(scale * cos(image, mean template embedding of each label))."""
        prompts = [template.replace("{}", label) if "{}" in template else f"{template} {label}"
                   for label in labels for template in templates]
        text = (await self.embed_texts(prompts)).reshape(len(labels), len(templates), -1).mean(axis=1)  # [L, D]
        text /= np.linalg.norm(text, axis=-1, keepdims=True) + 1e-12
        image = await self.embed_images(images)  # [B, D]
        logits = self.encoder.logit_scale * image @ text.T  # [B, L]
        logits -= logits.max(axis=-1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=-1, keepdims=True)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
        if hasattr(self.mllm, "close"):
            self.mllm.close()

"""A fast CPU engine for encoders: the towers exported to ONNX and dynamically quantised to int8.

``--engine onnx-int8`` (``openeyes serve``, ``openeyes eval encoder``) runs the pooled image and
text embeddings through onnxruntime instead of torch eager; torch stays the default and the only
path on a GPU. ``OnnxEncoder`` speaks the same ``Encoder`` protocol as the backend it wraps and
keeps its preprocessing, tokenizer and logit scale untouched: only ``encode_image`` and
``encode_text`` change. ``image_tokens`` (LLaVA, ``--probe-layer``) needs the torch tensors of
a hidden layer and is refused.

How an engine is made (``export_engine``): each tower is exported with torch's TorchScript ONNX
exporter (dynamic batch), then ``onnxruntime.quantization.quantize_dynamic`` turns the weight
MatMuls/Gemms into int8 (weights per tensor, activations quantised on the fly; attention's
activation x activation products stay fp32). Engines are cached beside the artifact in
``.engines/onnx-int8-<key>/`` (or under ``$OPENEYES_ENGINE_CACHE``, default
``~/.cache/openeyes/engines``, when that folder is read-only or the spec is no folder). The key
hashes the weights and config of the loaded model, the engine, the opset and the onnxruntime,
onnx and torch versions, so a changed artifact never meets a stale engine; every file carries
the key in its ONNX metadata and is written through a temporary folder renamed into place.

Every load checks the engine against the torch path on a probe batch (synthetic shape images
and captions): the cosine between int8 and fp32 L2-normalised pooled embeddings must be at
least ``EngineConfig.min_cosine`` (0.995) for every probe item, otherwise the load is refused
with one line naming the measured cosine.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from openeyes.errors import UserError

TORCH = "torch"
ONNX_INT8 = "onnx-int8"
ENGINES = (TORCH, ONNX_INT8)
FORMAT = 1  # bump when the export or quantisation recipe changes (old cache entries then miss)
KEY_FIELD = "openeyes.engine_key"  # ONNX metadata_props entry holding the cache key
TOWERS = ("vision", "text")
PROBE_TEXTS = ("a red circle left of a blue square", "two green triangles above a yellow star",
               "a small purple square", "three blue stars in a row", "an empty gray background",
               "a photo of a dog", "a large orange heart below a cyan ring", "!")


@dataclass(frozen=True)
class EngineConfig:
    """How the onnx-int8 engine is built, cached and checked."""

    engine: str = ONNX_INT8          # engine name (ENGINES); "torch" means: no engine, use the backend as is
    text: bool = True                # also run the text tower in int8 (False: text stays in torch)
    min_cosine: float = 0.995        # refuse when any probe item's int8-vs-fp32 embedding cosine is below this
    opset: int = 17                  # ONNX opset of the export
    cache_dir: str | None = None     # where engines go when the artifact folder is read-only (None: $OPENEYES_ENGINE_CACHE or ~/.cache/openeyes/engines)
    threads: int | None = None       # onnxruntime intra-op threads (None: torch.get_num_threads())
    probe_size: int = 8              # synthetic images and captions in the load-time check


def check_engine(engine: str, device: str | torch.device = "cpu") -> str:
    """``engine`` when it exists and can run on ``device``; one-line UserError otherwise."""
    engine = (engine or TORCH).strip().lower()
    if engine not in ENGINES:
        raise UserError(f"unknown encoder engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != TORCH and torch.device(device).type != "cpu":
        raise UserError(f"--engine {engine} runs on the CPU only; on {device} use --engine torch (the default)")
    return engine


# -- cache key and location ----------------------------------------------------------------------
def weight_hash(encoder: nn.Module) -> str:
    """sha256 over the model config and every tensor of the state dict (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    config = getattr(getattr(encoder, "model", None), "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        digest.update(config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def engine_key(weights: str, config: EngineConfig) -> str:
    """16 hex digits naming one engine build: weights, engine, opset, towers and tool versions."""
    import onnx
    import onnxruntime

    parts = {"weights": weights, "engine": config.engine, "opset": config.opset, "text": config.text, "format": FORMAT,
             "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "torch": torch.__version__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_dir(config: EngineConfig) -> Path:
    return Path(config.cache_dir or os.environ.get("OPENEYES_ENGINE_CACHE") or Path.home() / ".cache/openeyes/engines")


def engine_root(source_dir: str | Path | None, config: EngineConfig) -> Path:
    """``<artifact>/.engines`` when the artifact folder is writable, else the cache dir."""
    if source_dir is not None and Path(source_dir).is_dir():
        beside = Path(source_dir) / ".engines"
        if os.access(beside if beside.is_dir() else source_dir, os.W_OK | os.X_OK):
            return beside
    return default_cache_dir(config)


# -- export + quantise ---------------------------------------------------------------------------
class _VisionTower(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_image(pixel_values)  # [B, 3, S, S] -> [B, D]


class _TextTower(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_text({"input_ids": input_ids, "attention_mask": attention_mask})  # [B, L] -> [B, D]


def _export_tower(encoder: nn.Module, tower: str, path: Path, opset: int) -> None:
    """fp32 ONNX of one tower with a dynamic batch axis (and sequence axis for text)."""
    import warnings

    if tower == "vision":
        module, names = _VisionTower(encoder), ["pixel_values"]
        example = (torch.zeros(2, 3, encoder.image_size, encoder.image_size),)  # [2, 3, S, S]
        axes = {"pixel_values": {0: "batch"}}
    else:
        module, names = _TextTower(encoder), ["input_ids", "attention_mask"]
        tokens = encoder.tokenize(list(PROBE_TEXTS[:2]))  # [2, L] each
        example = (tokens["input_ids"], tokens["attention_mask"])
        axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python branches on (static) shapes
        torch.onnx.export(module.eval(), example, str(path), input_names=names, output_names=["embeds"],
                          dynamic_axes={**axes, "embeds": {0: "batch"}}, opset_version=opset, dynamo=False)


def _quantise(fp32: Path, int8: Path, key: str) -> None:
    """Dynamic int8 quantisation of the weight MatMul/Gemm nodes; stamps ``key`` into the metadata."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # its "consider pre-processing" hint
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                     extra_options={"MatMulConstBOnly": True})
    model = onnx.load(str(int8))
    onnx.helper.set_model_props(model, {KEY_FIELD: key})
    onnx.save(model, str(int8))


def export_engine(encoder: nn.Module, folder: Path, key: str, config: EngineConfig) -> Path:
    """Write ``folder`` (vision.onnx [+ text.onnx], int8) atomically: built in a temporary sibling, then renamed."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    try:
        for tower in TOWERS if config.text else TOWERS[:1]:
            fp32 = scratch / f"{tower}.fp32.onnx"
            _export_tower(encoder, tower, fp32, config.opset)
            _quantise(fp32, scratch / f"{tower}.onnx", key)
            fp32.unlink()
        try:
            os.rename(scratch, folder)  # atomic; fails when another process finished first
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if folder.parent.name == ".engines":  # beside an artifact: drop engines of its earlier weights or versions
        for stale in folder.parent.glob(f"{config.engine}-*"):
            if stale != folder and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
    return folder


# -- the engine-backed encoder -------------------------------------------------------------------
def _session(path: Path, key: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as problem:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise UserError(f"engine file {path} is unreadable ({type(problem).__name__}: {str(problem).splitlines()[0][:160]}); "
                        f"delete {path.parent} to rebuild it") from None
    found = session.get_modelmeta().custom_metadata_map.get(KEY_FIELD)
    if found != key:
        raise UserError(f"engine file {path} was built for other weights or versions (key {found} != {key}); "
                        f"delete {path.parent} to rebuild it")
    return session


class OnnxEncoder(nn.Module):
    """``Encoder`` whose pooled embeddings come from int8 onnxruntime sessions; the rest is ``base``'s."""

    def __init__(self, base: nn.Module, folder: Path, key: str, config: EngineConfig):
        super().__init__()
        self.base = base.eval()  # preprocessing, tokenizer, logit scale, the check's reference
        self.engine = config.engine
        self.engine_dir = folder
        self.key = key
        for field in ("name", "image_size", "patch_size", "embed_dim", "vision_width"):
            setattr(self, field, getattr(base, field))
        threads = config.threads or torch.get_num_threads()
        self.vision = _session(folder / "vision.onnx", key, threads)
        self.text = _session(folder / "text.onnx", key, threads) if config.text else None
        self.text_inputs = [item.name for item in self.text.get_inputs()] if self.text is not None else []

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        return self.base.preprocess(images)  # [B, 3, S, S], the backend's own transform

    def normalize(self, pixels01: torch.Tensor) -> torch.Tensor:
        return self.base.normalize(pixels01)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.base.tokenize(texts)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> [B, D] float32 (not normalised), through the int8 vision engine."""
        array = pixels.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.vision.run(None, {"pixel_values": array})[0])

    def encode_text(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenized texts [B, L] -> [B, D] float32 (not normalised); torch when the text tower was not exported."""
        if self.text is None:
            return self.base.encode_text(tokens)
        feed = {name: tokens[name].detach().cpu().to(torch.int64).numpy() for name in self.text_inputs}
        return torch.from_numpy(self.text.run(None, feed)[0])

    def image_tokens(self, pixels: torch.Tensor, layer: int = -2) -> torch.Tensor:
        raise UserError(f"the {self.engine} engine computes pooled embeddings only; patch tokens (image_tokens, "
                        f"--probe-layer, LLaVA) need --engine torch")

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.base.logit_scale

    @property
    def logit_bias(self) -> torch.Tensor | None:
        return getattr(self.base, "logit_bias", None)

    def forward(self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_image(pixels), self.encode_text(tokens)

    def save(self, directory: str) -> None:
        self.base.save(directory)  # the weights are the backend's; an engine is a cache, not an artifact


# -- the load-time check -------------------------------------------------------------------------
def probe_images(count: int, size: int) -> list[Any]:
    """``count`` deterministic synthetic images: coloured shapes on coloured backgrounds."""
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    colour = lambda: tuple(rng.randrange(256) for _ in range(3))  # noqa: E731
    images = []
    for _ in range(count):
        image = Image.new("RGB", (size, size), colour())
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x0, y0 = rng.randrange(size // 2), rng.randrange(size // 2)
            box = (x0, y0, x0 + rng.randrange(4, size // 2), y0 + rng.randrange(4, size // 2))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour())
        images.append(image)
    return images


def probe_cosines(engine: OnnxEncoder, count: int = 8) -> dict[str, float]:
    """Smallest per-item cosine between the engine's and torch's normalised embeddings, per tower."""
    base = engine.base
    pixels = base.preprocess(probe_images(count, base.image_size))  # [N, 3, S, S]
    tokens = base.tokenize([PROBE_TEXTS[i % len(PROBE_TEXTS)] for i in range(count)])  # [N, L]
    cosines = {}
    with torch.inference_mode():
        pairs = {"image": (engine.encode_image(pixels), base.encode_image(pixels))}
        if engine.text is not None:
            pairs["text"] = (engine.encode_text(tokens), base.encode_text(tokens))
        for tower, (fast, reference) in pairs.items():
            fast = nn.functional.normalize(fast.float(), dim=-1)  # [N, D]
            reference = nn.functional.normalize(reference.float().cpu(), dim=-1)  # [N, D]
            cosines[tower] = float((fast * reference).sum(-1).min())
    return cosines


def verify_engine(engine: OnnxEncoder, config: EngineConfig) -> dict[str, float]:
    """The probe cosines; a UserError naming the worst one when any falls below ``config.min_cosine``."""
    cosines = probe_cosines(engine, config.probe_size)
    for tower, cosine in cosines.items():
        if not cosine >= config.min_cosine:  # also catches NaN
            raise UserError(f"the {config.engine} engine of {engine.name} disagrees with torch: {tower} embedding cosine "
                            f"{cosine:.5f} < {config.min_cosine} on the probe batch; refusing it (engine files in "
                            f"{engine.engine_dir}; use --engine torch)")
    return cosines


def build_engine(encoder: nn.Module, source_dir: str | Path | None = None, config: EngineConfig | None = None,
                 rebuild: bool = False) -> OnnxEncoder:
    """``encoder`` on the onnx-int8 engine: the cached build for its weights (exported first when missing
    or ``rebuild``), checked against torch on the probe batch. ``source_dir``: the artifact folder, if any."""
    config = config or EngineConfig()
    check_engine(config.engine, next(encoder.parameters()).device)
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError(f"--engine {config.engine} needs onnxruntime and onnx: pip install 'openeyes[serve]' "
                        f"(or pip install onnxruntime onnx)") from None
    encoder = encoder.eval()
    key = engine_key(weight_hash(encoder), config)
    folder = engine_root(source_dir, config) / f"{config.engine}-{key}"
    if rebuild and folder.is_dir():
        shutil.rmtree(folder)
    if not (folder / "vision.onnx").is_file():
        export_engine(encoder, folder, key, config)
    engine = OnnxEncoder(encoder, folder, key, config)
    engine.checked = verify_engine(engine, config)  # {"image": cosine[, "text": cosine]}
    return engine

"""The int8 ONNX engine: export + quantise, agreement with torch, the cache, refusals, serve plumbing."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from openeyes.encoders.onnx_engine import (  # noqa: E402
    KEY_FIELD, EngineConfig, OnnxEncoder, build_engine, check_engine, engine_key, probe_images, weight_hash,
)
from openeyes.errors import UserError  # noqa: E402

CAPTIONS = ["a red circle left of a blue square", "two green triangles above a yellow star", "a small purple square",
            "three blue stars in a row", "an empty gray background"] * 8


def tiny_encoder(seed: int = 0):
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    tokenizer = train_caption_tokenizer(CAPTIONS, vocab_size=400, max_length=16)
    return build_tiny_clip(tokenizer, image_size=32, patch_size=8, vision_width=64, vision_layers=2, vision_mlp=256,
                           text_width=32, text_layers=2, embed_dim=24, seed=seed).eval()


@pytest.fixture
def artifact(tmp_path):
    from openeyes.encoders.artifact import save_encoder_artifact

    return save_encoder_artifact(tiny_encoder(), tmp_path / "tiny", name="tiny")


def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (torch.nn.functional.normalize(a, dim=-1) * torch.nn.functional.normalize(b, dim=-1)).sum(-1)  # [N]


def test_engine_is_int8_agrees_with_torch_and_keeps_the_protocol(artifact):
    import onnx

    from openeyes.encoders.loading import load_encoder

    reference = load_encoder(str(artifact))
    engine = load_encoder(str(artifact), engine="onnx-int8")
    assert isinstance(engine, OnnxEncoder) and engine.engine_dir.parent == artifact / ".engines"
    ops = {node.op_type for node in onnx.load(str(engine.engine_dir / "vision.onnx")).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul"} and "DynamicQuantizeLinear" in ops  # really int8
    assert (engine.embed_dim, engine.image_size, engine.name) == (reference.embed_dim, reference.image_size, reference.name)
    images = probe_images(12, 48)[::-1]  # other sizes than the probe: preprocessing resizes them
    pixels = engine.preprocess(images)
    assert torch.equal(pixels, reference.preprocess(images))  # identical preprocessing
    tokens = engine.tokenize(CAPTIONS[:7])
    with torch.inference_mode():
        fast_image, fast_text = engine(pixels, tokens)
        slow_image, slow_text = reference(pixels, tokens)
    assert fast_image.shape == (12, 24) and fast_text.shape == (7, 24) and fast_image.dtype == torch.float32
    assert cosines(fast_image, slow_image).min() > 0.995 and cosines(fast_text, slow_text).min() > 0.995
    assert not torch.equal(fast_image, slow_image)  # it is not the torch path in disguise
    for texts in (["a"], [" ".join(CAPTIONS)] * 2):  # other sequence lengths than the export's (dynamic axis)
        tokens = engine.tokenize(texts)
        with torch.inference_mode():
            assert cosines(engine.encode_text(tokens), reference.encode_text(tokens)).min() > 0.995
    assert engine.checked["image"] > 0.995 and engine.checked["text"] > 0.995
    assert float(engine.logit_scale.detach()) == float(reference.logit_scale.detach())
    with pytest.raises(UserError, match="patch tokens"):
        engine.image_tokens(pixels)


def test_cache_is_reused_and_invalidated_by_new_weights(artifact, monkeypatch):
    from openeyes.encoders import onnx_engine
    from openeyes.encoders.loading import load_encoder

    first = load_encoder(str(artifact), engine="onnx-int8").engine_dir
    stamp = (first / "vision.onnx").stat().st_mtime_ns

    def no_export(*args, **kwargs):
        raise AssertionError("a cached engine was exported again")

    monkeypatch.setattr(onnx_engine, "export_engine", no_export)
    again = load_encoder(str(artifact), engine="onnx-int8")
    assert again.engine_dir == first and (first / "vision.onnx").stat().st_mtime_ns == stamp
    monkeypatch.undo()

    from openeyes.encoders.artifact import save_encoder_artifact

    save_encoder_artifact(tiny_encoder(seed=1), artifact, name="tiny")  # same folder, other weights
    changed = load_encoder(str(artifact), engine="onnx-int8")
    assert changed.engine_dir != first and not first.exists()  # new key; the stale engine is gone
    assert changed.checked["image"] > 0.995
    assert sorted(p.name for p in (artifact / ".engines").iterdir()) == [changed.engine_dir.name]  # no temp left


def test_key_follows_weights_and_versions():
    encoder = tiny_encoder()
    weights = weight_hash(encoder)
    assert weights == weight_hash(tiny_encoder())
    with torch.no_grad():
        encoder.model.visual_projection.weight[0, 0] += 1e-3
    assert weight_hash(encoder) != weights
    assert engine_key(weights, EngineConfig()) != engine_key(weights, EngineConfig(opset=18))
    assert engine_key(weights, EngineConfig()) != engine_key(weights, EngineConfig(text=False))


def test_corrupted_engine_file_is_refused_in_one_line(artifact):
    from openeyes.cli import main
    from openeyes.encoders.loading import load_encoder

    folder = load_encoder(str(artifact), engine="onnx-int8").engine_dir
    (folder / "vision.onnx").write_bytes(b"\x08\x07not an onnx model" * 10)
    with pytest.raises(UserError, match="unreadable"):
        load_encoder(str(artifact), engine="onnx-int8")
    assert main(["encoder", "export-onnx", "--encoder", str(artifact), "--force"]) == 0  # --force rebuilds it
    assert load_encoder(str(artifact), engine="onnx-int8").checked["image"] > 0.995


def test_engine_of_other_weights_is_refused(artifact, tmp_path):
    """A file from another model is refused by its key; with the key forged, by the cosine check."""
    import onnx

    from openeyes.encoders.loading import load_encoder

    folder = load_encoder(str(artifact), engine="onnx-int8").engine_dir
    key = folder.name.split("-")[-1]
    other = build_engine(tiny_encoder(seed=3), None, EngineConfig(cache_dir=str(tmp_path / "cache"))).engine_dir
    shutil.copy(other / "vision.onnx", folder / "vision.onnx")
    with pytest.raises(UserError, match="built for other weights"):
        load_encoder(str(artifact), engine="onnx-int8")
    model = onnx.load(str(folder / "vision.onnx"))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {KEY_FIELD: key})
    onnx.save(model, str(folder / "vision.onnx"))
    with pytest.raises(UserError, match=r"image embedding cosine -?\d\.\d+ < 0.995"):
        load_encoder(str(artifact), engine="onnx-int8")


def test_read_only_artifact_uses_the_cache_dir(artifact, tmp_path, monkeypatch):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path).startswith(str(artifact)) else real_access(path, mode))
    monkeypatch.setenv("OPENEYES_ENGINE_CACHE", str(tmp_path / "cache"))
    from openeyes.encoders.loading import load_encoder

    engine = load_encoder(str(artifact), engine="onnx-int8")
    assert engine.engine_dir.parent == tmp_path / "cache" and not (artifact / ".engines").exists()


def test_engine_refuses_cuda_unknown_names_and_patch_probes(artifact, tmp_path, capsys):
    from openeyes.cli import main

    with pytest.raises(UserError, match="CPU only"):
        check_engine("onnx-int8", "cuda")
    with pytest.raises(UserError, match="unknown encoder engine"):
        check_engine("tensorrt")
    assert check_engine("ONNX-int8") == "onnx-int8" and check_engine("torch", "cuda") == "torch"
    code = main(["eval", "encoder", "--encoder", str(artifact), "--bench", "zeroshot", "--data", str(tmp_path),
                 "--out", str(tmp_path / "out"), "--engine", "onnx-int8", "--probe-layer", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "--probe-layer" in err and len(err.strip().splitlines()) == 1


def test_serve_config_plumbing(artifact, monkeypatch, capsys):
    from openeyes.cli import main
    from openeyes.serving.runtime import EncoderRuntime, ServeConfig
    from openeyes.serving.settings import config_from_env, config_to_env

    assert ServeConfig().engine == "torch" and config_from_env({}).engine == "torch"
    env = config_to_env(ServeConfig(encoder=str(artifact), engine="onnx-int8"))
    assert env["OPENEYES_SERVE_ENGINE"] == "onnx-int8" and config_from_env(env).engine == "onnx-int8"

    fast, slow = EncoderRuntime(str(artifact), engine="onnx-int8"), EncoderRuntime(str(artifact))
    assert isinstance(fast.encoder, OnnxEncoder) and not isinstance(slow.encoder, OnnxEncoder)
    assert fast.fingerprint == slow.fingerprint and fast.dim == slow.dim
    images, texts = probe_images(3, 40), CAPTIONS[:4]
    for got, want in ((fast.embed_images(images), slow.embed_images(images)), (fast.embed_texts(texts), slow.embed_texts(texts))):
        assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
        assert (got * want).sum(1).min() > 0.995

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    monkeypatch.setenv("OPENEYES_SERVE_ENGINE", "tensorrt")  # the env variable reaches the CLI option
    assert main(["serve", "--encoder", str(artifact), "--mllm", "none", "--port", port, "--no-ui"]) == 2
    assert "unknown encoder engine 'tensorrt'" in capsys.readouterr().err
    (fast.encoder.engine_dir / "text.onnx").write_bytes(b"broken")  # serve checks the engine before any server starts
    assert main(["serve", "--encoder", str(artifact), "--mllm", "none", "--port", port, "--engine", "onnx-int8"]) == 2
    assert "unreadable" in capsys.readouterr().err

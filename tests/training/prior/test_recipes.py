"""`openeyes train prior` and `openeyes train dcr --stage 1|2` end to end on the world, with resume."""
import json

import pytest
import torch

from openeyes.cli import main
from openeyes.encoders.loading import load_encoder
from openeyes.training.prior import load_prior

PRIOR = ["model.image_size=16", "model.block_out_channels=[8, 16]", "model.attention_head_dim=4",
         "model.text_width=16", "model.text_layers=1", "model.text_heads=2", "model.vae_block_out_channels=[8, 16]",
         "text.tokenizer_corpus=200", "text.tokenizer_vocab=300", "text.max_length=12",
         "trainer.batch_size=4", "trainer.log_every=1", "trainer.checkpoint_every=1", "trainer.progress_bar=false"]
ENCODER = ["init.tiny={image_size: 32, patch_size: 8, vision_width: 32, vision_layers: 1, vision_heads: 2,"
           " vision_mlp: 64, text_width: 32, text_layers: 1, text_heads: 2, embed_dim: 16}",
           "init.tokenizer_corpus=200", "init.tokenizer_vocab=300"]
STAGE = ["trainer.batch_size=4", "trainer.log_every=1", "trainer.checkpoint_every=1", "trainer.progress_bar=false"]


def _summary(run):
    return json.loads((run / "summary.json").read_text())


def _train_prior(tmp_path, name, extra):
    run, out = tmp_path / name / "run", tmp_path / name / "artifact"
    code = main(["train", "prior", *PRIOR, f"trainer.out_dir={run}", f"out={out}", *extra])
    assert code == 0
    return run, out


@pytest.fixture(scope="module")
def pixel_prior(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prior")
    run, out = _train_prior(tmp, "pixel", ["trainer.steps=2"])
    return tmp, run, out


def test_prior_cli_trains_resumes_and_writes_a_loadable_artifact(pixel_prior):
    tmp, run, out = pixel_prior
    assert _summary(run)["steps"] == 2
    again = [*PRIOR, f"trainer.out_dir={run}", f"out={out}", "trainer.steps=3"]
    assert main(["train", "prior", *again]) == 2  # a used run folder is not resumed unless asked
    assert main(["train", "prior", "--resume", *again, "optim.lr=1e-3"]) == 2  # nor with another config
    _train_prior(tmp, "pixel", ["--resume", "trainer.steps=3"])  # continues from step 2
    summary = _summary(run)
    assert summary["start_step"] == 2 and summary["steps"] == 3
    prior = load_prior(out)
    assert prior.image_size == 16 and prior.vae is None
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all("diffusion" in row for row in log)


def test_latent_prior_trains_its_vae_first_and_spectral_term_is_logged(tmp_path):
    run, out = _train_prior(tmp_path, "latent", [
        "trainer.steps=1", "model.space=latent", "model.schedule=flow", "vae_train.steps=2", "vae_train.batch_size=4",
        "spectral.enabled=true", "spectral.num_eigenfunctions=4", "spectral.hidden=8"])
    assert _summary(run / "vae")["steps"] == 2
    prior = load_prior(out)
    assert prior.vae is not None and prior.schedule.is_flow
    assert prior.vae.config.scaling_factor != 0.18215  # calibrated on world latents
    last = _summary(run)["last"]
    assert "spectral" in last and "diffusion" in last


def test_dcr_stage1_then_stage2_with_resume(tmp_path, pixel_prior):
    _, _, prior = pixel_prior
    common = [*ENCODER, f"run_dir={tmp_path / 'dcr'}", f"out={tmp_path / 'dcr' / 'artifact'}", f"dcr.prior={prior}",
              "dcr.chunk_size=8", "lora.r=2", *[f"stage1.{s}" for s in STAGE], *[f"stage2.{s}" for s in STAGE]]
    assert main(["train", "dcr", "--stage", "2", *common]) == 2  # no projector yet: one-line user error
    assert main(["train", "dcr", "--stage", "1", *common, "stage1.trainer.steps=2"]) == 0
    assert main(["train", "dcr", "--stage", "1", *common, "stage1.trainer.steps=3"]) == 2  # not resumed unless asked
    assert main(["train", "dcr", "--stage", "1", "--resume", *common, "stage1.trainer.steps=3"]) == 0
    stage1 = _summary(tmp_path / "dcr" / "stage1")
    assert stage1["start_step"] == 2 and stage1["steps"] == 3 and "dcr" in stage1["last"]
    assert (tmp_path / "dcr" / "projector" / "projector.safetensors").is_file()

    assert main(["train", "dcr", "--stage", "2", *common, "stage2.trainer.steps=2"]) == 0
    assert main(["train", "dcr", "--stage", "2", "--resume", *common, "stage2.trainer.steps=3", "stage2.optim.lr=1e-3"]) == 2
    assert main(["train", "dcr", "--stage", "2", "--resume", *common, "stage2.trainer.steps=3"]) == 0
    stage2 = _summary(tmp_path / "dcr" / "stage2")
    assert stage2["start_step"] == 2 and stage2["steps"] == 3
    assert 0 < stage2["trainable_parameters"] < stage2["total_parameters"]  # LoRA adapters only
    enhanced = load_encoder(str(tmp_path / "dcr" / "artifact"))
    from openeyes.training.recipes.encoder import build_start_encoder, InitConfig
    from openeyes.config import load_config
    from openeyes.training.recipes.dcr import DcrTrainConfig

    base = build_start_encoder(load_config(DcrTrainConfig, None, ENCODER).init, load_config(DcrTrainConfig, None, []).data)
    before, after = base.model.state_dict(), enhanced.model.state_dict()
    assert set(before) == set(after)  # LoRA merged back into a plain CLIPModel
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and [k for k in changed if "vision_model" not in k] == []


def test_dcr_stage2_adds_extra_objectives_next_to_dcr_with_lora(tmp_path, pixel_prior):
    _, _, prior = pixel_prior
    common = [*ENCODER, f"run_dir={tmp_path / 'dcr'}", f"out={tmp_path / 'dcr' / 'artifact'}", f"dcr.prior={prior}",
              "lora.r=2", "dcr.num_negatives=2", *[f"stage1.{s}" for s in STAGE], *[f"stage2.{s}" for s in STAGE],
              "stage1.trainer.steps=1", "stage2.trainer.steps=2", "weights_dtype=float16"]
    assert main(["train", "dcr", "--stage", "1", *common]) == 0
    clipin = ("stage2_objectives=[{name: clipin, weight: 1.0, options: {pre_dim: 16, contrastive_dim: 8,"
              " noncontrastive_dim: 32, predictor_hidden_dim: 16, contrastive: false}}]")
    assert main(["train", "dcr", "--stage", "2", *common, clipin]) == 0  # CLIPin's EMA copy follows the adapters
    last = _summary(tmp_path / "dcr" / "stage2")["last"]
    assert "dcr" in last and "clipin_inter" in last
    card = json.loads((tmp_path / "dcr" / "artifact" / "openeyes.json").read_text())
    assert card["config"]["stage2_objectives"][0]["name"] == "clipin"
    from safetensors import safe_open

    with safe_open(str(tmp_path / "dcr" / "artifact" / "model.safetensors"), "pt") as stored:
        assert {stored.get_tensor(k).dtype for k in stored.keys() if "weight" in k} == {torch.float16}
    assert load_encoder(str(tmp_path / "dcr" / "artifact")) is not None


def test_dcr_stage1_checkpoints_leave_out_the_frozen_encoder(tmp_path, pixel_prior):
    """Stage 1 from a saved encoder: checkpoints hold the projector and resume state only, and resume."""
    from safetensors import safe_open

    from openeyes.encoders.artifact import save_encoder_artifact

    start = load_config_encoder()
    save_encoder_artifact(start, tmp_path / "start", name="start")
    _, _, prior = pixel_prior
    common = [f"init.encoder={tmp_path / 'start'}", f"run_dir={tmp_path / 'dcr'}", f"dcr.prior={prior}",
              "dcr.chunk_size=8", *[f"stage1.{s}" for s in STAGE]]
    assert main(["train", "dcr", "--stage", "1", *common, "stage1.trainer.steps=2"]) == 0
    with safe_open(str(tmp_path / "dcr" / "stage1" / "checkpoints" / "step_0000002" / "model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    assert keys and all(k.startswith("objective.") for k in keys)  # no encoder weight stored
    assert any("conditioner" in k for k in keys)
    assert main(["train", "dcr", "--stage", "1", "--resume", *common, "stage1.trainer.steps=3"]) == 0
    assert _summary(tmp_path / "dcr" / "stage1")["start_step"] == 2


def load_config_encoder():
    from openeyes.config import load_config
    from openeyes.training.recipes.dcr import DcrTrainConfig
    from openeyes.training.recipes.encoder import build_start_encoder

    config = load_config(DcrTrainConfig, None, ENCODER)
    return build_start_encoder(config.init, config.data)

"""The prior: parameterizations, artifact round trip, SD-2.1 / unCLIP folder layouts, sampling."""
import json

import pytest
import torch

from openeyes.errors import UserError
from openeyes.training.prior import DiffusionPrior, PriorModelConfig, build_prior, load_prior, save_prior
from openeyes.training.prior.model import tiny_text_encoder, tiny_unet, tiny_vae

TINY_PRIOR = dict(image_size=16, block_out_channels=[8, 16], attention_head_dim=4, text_width=16, text_layers=1,
                  text_heads=2, latent_channels=4, vae_block_out_channels=[8, 16])


def _predict(prior, images):
    x0 = prior.to_model_space(images)
    t = prior.schedule.sample_times(images.shape[0], generator=torch.Generator().manual_seed(0))
    return prior.predict(x0, t, prior.encode_text(["a red circle"] * images.shape[0]))


@pytest.mark.parametrize("schedule,space", [("ddpm", "pixel"), ("flow", "pixel"), ("ddpm", "latent")])
def test_artifact_roundtrip_gives_the_same_denoiser(tmp_path, caption_tokenizer, schedule, space):
    config = PriorModelConfig(**TINY_PRIOR, schedule=schedule, space=space)
    vae = tiny_vae(config) if space == "latent" else None
    prior = build_prior(config, caption_tokenizer, seed=0, vae=vae).eval()
    images = torch.rand(2, 3, 24, 24)  # resized to 16 inside
    with torch.no_grad():
        before = _predict(prior, images)
    expected = (2, 4, 8, 8) if space == "latent" else (2, 3, 16, 16)
    assert before.shape == expected
    save_prior(prior, tmp_path / "prior", name="tiny", config={"model": TINY_PRIOR})
    card = json.loads((tmp_path / "prior" / "openeyes.json").read_text())
    assert card["kind"] == "prior" and card["prior"]["space"] == space
    assert any(name.startswith("unet/") for name in card["files"])
    loaded = load_prior(tmp_path / "prior")
    assert loaded.schedule.prediction_type == ("flow" if schedule == "flow" else "epsilon")
    assert not any(p.requires_grad for p in loaded.parameters())
    with torch.no_grad():
        assert torch.allclose(_predict(loaded, images), before, atol=1e-5)
    from diffusers import UNet2DConditionModel  # each part loads with its own from_pretrained

    assert UNet2DConditionModel.from_pretrained(tmp_path / "prior" / "unet").config.cross_attention_dim == 16


def test_cross_only_top_level_drops_self_attention_there_and_survives_the_artifact(tmp_path, caption_tokenizer):
    config = PriorModelConfig(**{**TINY_PRIOR, "block_out_channels": [8, 16, 16]}, cross_only_levels=1)
    prior = build_prior(config, caption_tokenizer, seed=0).eval()

    def attn1_kinds(unet):  # per attention block, top resolution first: does attn1 attend to the caption?
        down = [block.attentions[0].transformer_blocks[0].attn1.is_cross_attention
                for block in unet.down_blocks if hasattr(block, "attentions")]
        up = [block.attentions[0].transformer_blocks[0].attn1.is_cross_attention
              for block in unet.up_blocks if hasattr(block, "attentions")][::-1]
        return down, up

    assert attn1_kinds(prior.unet) == ([True, False], [True, False])
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before = _predict(prior, images)
    save_prior(prior, tmp_path / "prior", name="tiny", config={"model": TINY_PRIOR})
    loaded = load_prior(tmp_path / "prior")
    assert attn1_kinds(loaded.unet) == ([True, False], [True, False])
    with torch.no_grad():
        assert torch.allclose(_predict(loaded, images), before, atol=1e-5)
    with pytest.raises(UserError, match="cross_only_levels=3: must be between 0 and 2"):
        build_prior(PriorModelConfig(**{**TINY_PRIOR, "block_out_channels": [8, 16, 16]}, cross_only_levels=3),
                    caption_tokenizer, seed=0)


def test_tampered_artifact_and_missing_parts_are_user_errors(tmp_path, caption_tokenizer):
    prior = build_prior(PriorModelConfig(**TINY_PRIOR), caption_tokenizer)
    save_prior(prior, tmp_path / "p", name="tiny")
    weights = tmp_path / "p" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(UserError, match="does not match"):
        load_prior(tmp_path / "p")
    (tmp_path / "q").mkdir()
    with pytest.raises(UserError, match="missing sub-folder"):
        load_prior(tmp_path / "q")


def _sd_parts(tokenizer, class_dim=0):
    config = PriorModelConfig(**TINY_PRIOR)
    vae = tiny_vae(config)
    extra = dict(class_embed_type="projection", projection_class_embeddings_input_dim=class_dim) if class_dim else {}
    unet = tiny_unet(config, 4, 8, **extra)
    return vae, unet, tiny_text_encoder(config, tokenizer)


def test_sd21_layout_loads_with_its_v_prediction(tmp_path, caption_tokenizer):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    vae, unet, text_encoder = _sd_parts(caption_tokenizer)
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              prediction_type="v_prediction", clip_sample=False)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=caption_tokenizer, unet=unet,
                            scheduler=scheduler, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(tmp_path / "sd21")
    assert (tmp_path / "sd21" / "model_index.json").is_file()
    prior = load_prior(tmp_path / "sd21")
    assert isinstance(prior, DiffusionPrior) and prior.vae is not None
    assert prior.schedule.prediction_type == "v_prediction" and prior.image_size == 16
    assert torch.allclose(prior.schedule.scheduler.alphas_cumprod, scheduler.alphas_cumprod)
    with torch.no_grad():
        assert _predict(prior, torch.rand(2, 3, 16, 16)).shape == (2, 4, 8, 8)
    assert prior.empty_condition().shape == (12, 16)


def test_sd21_unclip_layout_loads_and_runs_without_an_image_embedding(tmp_path, caption_tokenizer):
    from diffusers import DDIMScheduler, DDPMScheduler, StableUnCLIPImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    embed = 8
    vae, unet, text_encoder = _sd_parts(caption_tokenizer, class_dim=2 * embed)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        image_size=16, patch_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, projection_dim=embed))
    StableUnCLIPImg2ImgPipeline(
        feature_extractor=CLIPImageProcessor(crop_size=16, size=16), image_encoder=image_encoder,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=embed),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"), tokenizer=caption_tokenizer,
        text_encoder=text_encoder, unet=unet, scheduler=DDIMScheduler(prediction_type="v_prediction"), vae=vae,
    ).save_pretrained(tmp_path / "unclip")
    prior = load_prior(tmp_path / "unclip")
    assert prior.class_dim == 2 * embed and prior.name.startswith("StableUnCLIPImg2ImgPipeline")
    with torch.no_grad():
        assert _predict(prior, torch.rand(1, 3, 16, 16)).shape == (1, 4, 8, 8)


@pytest.mark.parametrize("schedule", ["ddpm", "flow"])
def test_sampling_returns_images_in_range(caption_tokenizer, schedule):
    prior = build_prior(PriorModelConfig(**TINY_PRIOR, schedule=schedule), caption_tokenizer).eval()
    images = prior.sample(["a red circle", "three blue stars"], steps=3, guidance=2.0,
                          generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 3, 16, 16) and images.min() >= 0 and images.max() <= 1

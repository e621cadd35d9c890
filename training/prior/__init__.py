"""The text-conditioned diffusion prior: tiny diffusers UNet (+ optional VAE) trained on the world.

``model`` holds the prior (denoiser, noise schedule, text encoder, optional VAE) behind one
interface; ``schedule`` the DDPM and rectified-flow parameterizations; ``loading`` saves the
prior artifact (diffusers layout + card) and loads it, or a real SD-2.1 / SD-2.1-unCLIP folder;
``objective`` the denoising loss (+ the spectral regularizer) the prior trains with; ``vae``
the tiny autoencoder's pre-training loss.
"""
from openeyes.training.prior.loading import load_prior, save_prior
from openeyes.training.prior.model import DiffusionPrior, PriorModelConfig, build_prior
from openeyes.training.prior.schedule import NoiseSchedule

__all__ = ["DiffusionPrior", "NoiseSchedule", "PriorModelConfig", "build_prior", "load_prior", "save_prior"]

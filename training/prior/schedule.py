"""Noise schedules of the prior: DDPM (epsilon / v / sample prediction) and rectified flow.

One object answers the three questions every diffusion loss asks, whatever the parameterization:

    sample_times(B)       t for each row: DDPM integer steps in [0, T); flow reals in (0, 1)
    add_noise(x0, eps, t) x_t: DDPM sqrt(a_t) x0 + sqrt(1 - a_t) eps;  flow (1 - t) x0 + t eps
    target(x0, eps, t)    what the network predicts: the scheduler's own prediction_type
                          (epsilon -> eps, v_prediction -> sqrt(a_t) eps - sqrt(1 - a_t) x0,
                          sample -> x0); flow -> eps - x0
    model_time(t)         the timestep value handed to the UNet (flow: t * T, as diffusers' FlowMatch)

The DDPM case delegates to diffusers' ``DDPMScheduler`` (``add_noise``, ``get_velocity``), so the
target always matches the schedule's prediction type (DCR's reference code pairs an epsilon
scheduler with a velocity target; this cannot happen here).
"""
from __future__ import annotations

from typing import Any, Literal

import torch

TimeDistribution = Literal["uniform", "logit_normal"]


class NoiseSchedule:
    """Wraps a diffusers scheduler (``DDPMScheduler`` or ``FlowMatchEulerDiscreteScheduler``)."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self.is_flow = type(scheduler).__name__.startswith("FlowMatch")
        self.num_train_timesteps = int(scheduler.config.num_train_timesteps)
        if self.is_flow:
            self.prediction_type = "flow"
        else:
            self.prediction_type = str(scheduler.config.prediction_type)
            if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
                raise ValueError(f"unsupported prediction_type {self.prediction_type!r}")

    @classmethod
    def create(cls, kind: Literal["ddpm", "flow"], prediction_type: str = "epsilon", num_train_timesteps: int = 1000,
               beta_schedule: str = "scaled_linear") -> "NoiseSchedule":
        """A fresh schedule: ``ddpm`` (SD's scaled-linear betas by default) or rectified ``flow``."""
        from diffusers import DDPMScheduler, FlowMatchEulerDiscreteScheduler

        if kind == "flow":
            return cls(FlowMatchEulerDiscreteScheduler(num_train_timesteps=num_train_timesteps))
        return cls(DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                                 beta_start=0.00085, beta_end=0.012, prediction_type=prediction_type,
                                 clip_sample=False))

    # -- times -------------------------------------------------------------------------------
    def sample_times(self, batch: int, distribution: TimeDistribution = "uniform", *, device=None,
                     generator: torch.Generator | None = None, logit_mean: float = 0.0, logit_std: float = 1.0) -> torch.Tensor:
        """[B] timesteps: long in [0, T) for DDPM, float in (0, 1) for flow."""
        if distribution == "uniform":
            unit = torch.rand(batch, generator=generator)  # [B] in [0, 1)
        elif distribution == "logit_normal":  # GenHancer / SD3: t = sigmoid(N(m, s))
            unit = torch.sigmoid(logit_mean + logit_std * torch.randn(batch, generator=generator))
        else:
            raise ValueError(f"unknown timestep distribution {distribution!r}")
        if self.is_flow:
            return unit.clamp(1e-5, 1.0 - 1e-5).to(device)
        return (unit * self.num_train_timesteps).long().clamp_(0, self.num_train_timesteps - 1).to(device)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """The timestep value the denoiser is conditioned on ([B])."""
        return t * self.num_train_timesteps if self.is_flow else t

    # -- forward process -----------------------------------------------------------------------
    @staticmethod
    def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:  # [B] -> [B, 1, 1, 1]
        return values.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t [B, C, H, W] from clean x0 and noise at times t [B]."""
        if self.is_flow:
            s = self._expand(t, x0)
            return (1.0 - s) * x0 + s * noise
        return self.scheduler.add_noise(x0, noise, t)

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The regression target of the denoiser at (x0, noise, t): see the module docstring."""
        if self.is_flow:
            return noise - x0
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "v_prediction":
            return self.scheduler.get_velocity(x0, noise, t)
        return x0

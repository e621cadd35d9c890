"""The prior's two gates: does it use its condition, and can it tell one attribute from its flip?

DCR can only teach an encoder what the frozen prior's denoising loss depends on, so before any
DCR run the prior is measured on held-out (test split) world data of another seed:

    condition gain         per timestep band, E[L(x_t, shuffled caption)] / E[L(x_t, true caption)]
                           over the same images, times and noise (L = the denoising loss the prior
                           trained with). 1.0 = the caption is ignored; the gate asks >= ``gain_gate``
                           in the bands DCR samples from.
    attribute sensitivity  on MMVP-world pairs (``openeyes.world.pairs``: two images differing in
                           one attribute, a statement true of each), image k is "told apart" when
                           sum_t L(x_t, own statement) < sum_t L(x_t, the other image's statement),
                           with the same (t, noise) draws for both. Accuracy per pattern (chance
                           0.5) and pair accuracy (both images right, chance 0.25); a pattern with
                           accuracy >= ``sensitivity_gate`` is one the prior can teach.

Pairs are ``pair_stream`` of an export of ``world_seed`` (the MMVP-VLM rows of
``openeyes world generate --seed S``), rendered at the prior's resolution.

Run: openeyes train prior-gates --prior DIR --out DIR [--world-seed 100]
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from openeyes.training.prior.model import DiffusionPrior


@dataclass
class GateSettings:
    world_seed: int = 100  # held-out world seed (test split) of the images and pairs
    n_images: int = 256  # test-split images for the condition gain
    bands: int = 4  # equal timestep bands over the schedule (fractions of T; flow: of (0, 1))
    draws: int = 2  # (t, noise) draws per image and band
    units: int = 1  # pair units (each 9 patterns x 15 pairs, as one MMVP-VLM export unit)
    pair_draws: int = 8  # (t, noise) draws per pair image, shared by both statements
    pair_band: tuple[float, float] = (0.05, 0.6)  # fraction-of-T range the pair draws come from
    pair_fraction: float = 0.0  # condition-gain images: share of pair images (0: full-caption scenes only)
    batch_size: int = 64  # prior batch
    seed: int = 0  # noise and timestep draws
    gain_gate: float = 1.05  # condition gain the gate asks for (mean over the bands inside pair_band)
    sensitivity_gate: float = 0.75  # per-pattern accuracy above which a pattern counts as teachable


def unit_times(prior: DiffusionPrior, low: float, high: float, count: int, generator: torch.Generator) -> torch.Tensor:
    """[count] times with t / T uniform in [low, high): DDPM integer steps, flow reals."""
    unit = low + (high - low) * torch.rand(count, generator=generator)
    schedule = prior.schedule
    if schedule.is_flow:
        return unit.clamp(1e-5, 1.0 - 1e-5)
    steps = schedule.num_train_timesteps
    return (unit * steps).long().clamp_(0, steps - 1)


@torch.no_grad()
def denoise_losses(prior: DiffusionPrior, x0: torch.Tensor, condition: torch.Tensor, t: torch.Tensor,
                   noise: torch.Tensor) -> torch.Tensor:
    """[B] per-sample denoising losses ||prediction - target||^2 (mean over elements)."""
    device = prior.device()
    x0, noise, t = x0.to(device), noise.to(device), t.to(device)
    x_t = prior.schedule.add_noise(x0, noise, t)
    target = prior.schedule.target(x0, noise, t)
    prediction = prior.predict(x_t, t, condition.to(device))
    return (prediction.float() - target.float()).pow(2).flatten(1).mean(1)


@torch.no_grad()
def model_space(prior: DiffusionPrior, images: np.ndarray, batch_size: int) -> torch.Tensor:
    """uint8 images [N, H, W, 3] -> clean x0 [N, c, h, w] on CPU."""
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255.0
        chunks.append(prior.to_model_space(batch).float().cpu())
    return torch.cat(chunks)


@torch.no_grad()
def encode_texts(prior: DiffusionPrior, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    """[N, L, C] conditions of ``texts`` on CPU."""
    return torch.cat([prior.encode_text(texts[i:i + batch_size]).float().cpu()
                      for i in range(0, len(texts), batch_size)])


def _batched_losses(prior, x0, condition, t, noise, batch_size) -> torch.Tensor:
    return torch.cat([denoise_losses(prior, x0[i:i + batch_size], condition[i:i + batch_size], t[i:i + batch_size],
                                     noise[i:i + batch_size]).cpu() for i in range(0, len(x0), batch_size)])


def condition_gain(prior: DiffusionPrior, images: np.ndarray, texts: Sequence[str], settings: GateSettings) -> list[dict]:
    """Per band: mean loss with the true and with a shuffled caption, and their ratio (the gain)."""
    generator = torch.Generator().manual_seed(settings.seed)
    x0 = model_space(prior, images, settings.batch_size)  # [N, c, h, w]
    true = encode_texts(prior, texts, settings.batch_size)  # [N, L, C]
    shuffled = true.roll(1, dims=0)  # each image gets its neighbour's caption
    rows = []
    for band in range(settings.bands):
        low, high = band / settings.bands, (band + 1) / settings.bands
        x0s = x0.repeat(settings.draws, 1, 1, 1)
        t = unit_times(prior, low, high, len(x0s), generator)
        noise = torch.randn(x0s.shape, generator=generator)
        own = _batched_losses(prior, x0s, true.repeat(settings.draws, 1, 1), t, noise, settings.batch_size)
        other = _batched_losses(prior, x0s, shuffled.repeat(settings.draws, 1, 1), t, noise, settings.batch_size)
        rows.append({"band": [low, high], "loss_true": float(own.mean()), "loss_shuffled": float(other.mean()),
                     "gain": float(other.mean() / own.mean().clamp_min(1e-12)),
                     "true_below_shuffled": float((own < other).float().mean())})
    return rows


def attribute_sensitivity(prior: DiffusionPrior, pairs: Sequence[Any], render, settings: GateSettings) -> dict[str, dict]:
    """Per pattern: accuracy (image's own statement has the lower loss) and pair accuracy."""
    generator = torch.Generator().manual_seed(settings.seed + 1)
    images = np.stack([render(scene) for pair in pairs for scene in (pair.scene_a, pair.scene_b)])  # [2P, H, W, 3]
    own_texts = [s for pair in pairs for s in (pair.statement_a, pair.statement_b)]
    other_texts = [s for pair in pairs for s in (pair.statement_b, pair.statement_a)]
    x0 = model_space(prior, images, settings.batch_size)
    own_c, other_c = encode_texts(prior, own_texts, settings.batch_size), encode_texts(prior, other_texts, settings.batch_size)
    own_sum, other_sum = torch.zeros(len(x0)), torch.zeros(len(x0))
    for _ in range(settings.pair_draws):
        t = unit_times(prior, *settings.pair_band, len(x0), generator)
        noise = torch.randn(x0.shape, generator=generator)
        own_sum += _batched_losses(prior, x0, own_c, t, noise, settings.batch_size)
        other_sum += _batched_losses(prior, x0, other_c, t, noise, settings.batch_size)
    right = (own_sum < other_sum).reshape(-1, 2)  # [P, 2]
    margin = ((other_sum - own_sum) / own_sum.clamp_min(1e-12)).reshape(-1, 2)  # relative loss margin
    result: dict[str, dict] = {}
    for pattern in dict.fromkeys(pair.pattern for pair in pairs):
        rows = torch.tensor([pair.pattern == pattern for pair in pairs])
        result[pattern] = {"accuracy": float(right[rows].float().mean()), "pair_accuracy": float(right[rows].all(1).float().mean()),
                           "mean_relative_margin": float(margin[rows].mean()), "pairs": int(rows.sum())}
    return result


def run_gates(prior: DiffusionPrior, settings: GateSettings) -> dict[str, Any]:
    """Both gates on held-out world data of ``settings.world_seed`` (see the module docstring)."""
    import dataclasses

    from openeyes.world.config import WorldConfig
    from openeyes.world.exporters.common import ExportContext, pair_stream
    from openeyes.world.prior_text import WorldPriorText

    torch.manual_seed(settings.seed)
    source = WorldPriorText(settings.world_seed, "test", size=prior.image_size, length=settings.n_images,
                            pair_fraction=settings.pair_fraction)
    items = [source[i] for i in range(settings.n_images)]
    gain = condition_gain(prior, np.stack([item["image"] for item in items]), [item["text"] for item in items], settings)

    config = dataclasses.replace(WorldConfig(), image_size=prior.image_size)
    context = ExportContext(seed=settings.world_seed, n=135 * settings.units, config=config)
    sensitivity = attribute_sensitivity(prior, pair_stream(context, "mmvp_vlm"), context.render, settings)

    low, high = settings.pair_band
    inside = [row["gain"] for row in gain if row["band"][1] > low and row["band"][0] < high]
    mean_gain = float(np.mean(inside))
    teachable = [pattern for pattern, row in sensitivity.items() if row["accuracy"] >= settings.sensitivity_gate]
    return {
        "prior": prior.name, "image_size": prior.image_size, "space": "latent" if prior.vae is not None else "pixel",
        "settings": asdict(settings), "condition_gain": gain,
        "attribute_sensitivity": sensitivity,
        "summary": {"mean_gain_in_pair_band": mean_gain, "gain_gate_met": mean_gain >= settings.gain_gate,
                    "mean_accuracy": float(np.mean([row["accuracy"] for row in sensitivity.values()])),
                    "teachable_patterns": teachable},
    }


def gates_table(result: dict[str, Any]) -> str:
    """Markdown tables of both gates."""
    lines = [f"# Prior gates: {result['prior']} ({result['space']}, {result['image_size']} px), "
             f"world seed {result['settings']['world_seed']} (test split)", "",
             "| t / T band | loss (true caption) | loss (shuffled) | condition gain | true < shuffled |",
             "|---|---|---|---|---|"]
    for row in result["condition_gain"]:
        lines.append(f"| {row['band'][0]:.2f}-{row['band'][1]:.2f} | {row['loss_true']:.4f} | {row['loss_shuffled']:.4f} "
                     f"| {row['gain']:.3f} | {row['true_below_shuffled']:.2f} |")
    lines += ["", "| pattern | accuracy (chance 0.5) | pair accuracy (chance 0.25) | relative margin | pairs |",
              "|---|---|---|---|---|"]
    for pattern, row in result["attribute_sensitivity"].items():
        lines.append(f"| {pattern} | {row['accuracy']:.2f} | {row['pair_accuracy']:.2f} | {row['mean_relative_margin']:+.4f} "
                     f"| {row['pairs']} |")
    summary = result["summary"]
    lines += ["", f"Mean gain in the pair band: {summary['mean_gain_in_pair_band']:.3f} "
                  f"(gate {result['settings']['gain_gate']}: {'met' if summary['gain_gate_met'] else 'not met'}); "
                  f"teachable patterns (accuracy >= {result['settings']['sensitivity_gate']}): "
                  f"{', '.join(summary['teachable_patterns']) or 'none'}.", ""]
    return "\n".join(lines)


def write_gates(result: dict[str, Any], out: str | Path) -> Path:
    """``out/gates.json`` and ``out/gates.md``; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gates.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "gates.md").write_text(gates_table(result))
    return out

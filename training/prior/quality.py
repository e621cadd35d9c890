"""Prior quality in a CLIP's eyes: Frechet distance of samples and zero-shot accuracy of class samples.

Two numbers compare priors trained over the same steps (e.g. with and without the spectral
regularizer), both measured with an encoder (the tiny CLIP):

    frechet_distance   FD between the encoder's image features of real world test images and
                       of samples conditioned on those images' captions (FID's formula, in the
                       CLIP's feature space instead of Inception's). Real images go through the
                       prior's resolution first (down to ``prior.image_size``, back up to the
                       encoder's), so FD measures the model, not the resolution gap.
    zeroshot_acc1      top-1 zero-shot accuracy (the encoder's class prompts) of samples
                       conditioned on "a photo of the {class}." for every world class;
                       ``real_zeroshot_acc1`` is the same for real class images at the prior's
                       resolution (the ceiling at that resolution).

Run: python -m openeyes.training.prior.quality --prior DIR --encoder zoo:tiny-clip --out FILE.json
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class QualitySettings:
    num_captions: int = 256  # real test images (and caption-conditioned samples) for the FD
    samples_per_class: int = 2  # class-conditioned samples per world class for zero-shot accuracy
    sampler_steps: int = 25  # DDIM (DDPM priors) / Euler (flow priors) steps
    guidance: float = 2.0  # classifier-free guidance scale of the samples
    batch_size: int = 64  # prior / encoder batch
    seed: int = 0  # sampling noise and the world test split
    world_seed: int = 100  # world seed of the real (test split) images
    class_prompt: str = "a photo of the {c}."  # the caption class samples are conditioned on


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2) of features [N, D] and [M, D] (float64)."""
    from scipy import linalg

    a, b = real.double().numpy(), fake.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # near-singular product: regularize the diagonal, as FID code does
        offset = np.eye(cov_a.shape[0]) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def at_resolution(images01: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Images [B, 3, H, W] -> down to ``low`` px (antialiased) -> up to ``high`` px (bilinear)."""
    if images01.shape[-1] != low:
        images01 = F.interpolate(images01, size=(low, low), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(images01, size=(high, high), mode="bilinear", align_corners=False).clamp(0.0, 1.0)


@torch.no_grad()
def image_features(encoder: Any, images01: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The encoder's image embeddings [N, D] of images in [0, 1] at its resolution."""
    parts = [encoder.encode_image(encoder.normalize(images01[i:i + batch_size])).float()
             for i in range(0, images01.shape[0], batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def sample_batched(prior: Any, texts: Sequence[str], settings: QualitySettings) -> torch.Tensor:
    """Samples [N, 3, S, S] in [0, 1] for ``texts`` (deterministic in ``settings.seed``)."""
    generator = torch.Generator().manual_seed(settings.seed)
    parts = [prior.sample(list(texts[i:i + settings.batch_size]), steps=settings.sampler_steps,
                          guidance=settings.guidance, generator=generator)
             for i in range(0, len(texts), settings.batch_size)]
    return torch.cat(parts).float()


@torch.no_grad()
def zeroshot_accuracy(encoder: Any, features: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                      templates: Sequence[str]) -> float:
    """Top-1 zero-shot accuracy of image features [N, D] with the CLIP_benchmark prompt ensemble."""
    from openeyes.eval_mllm.encoder.scoring.zeroshot import class_weights, prompts_for_class, zeroshot_logits

    per_class = [encoder.encode_text(encoder.tokenize(prompts_for_class(c, templates))) for c in classes]
    logits = zeroshot_logits(features, class_weights(per_class))  # [N, C]
    return float((logits.argmax(dim=1) == labels).double().mean())


def _world_items(dataset_class: Any, settings: QualitySettings, count: int, size: int) -> list[dict]:
    dataset = dataset_class(settings.world_seed, "test", size=size, length=count)
    return [dataset[i] for i in range(count)]


def _to_tensor(items: list[dict]) -> torch.Tensor:  # [N, 3, H, W] in [0, 1]
    return torch.from_numpy(np.stack([item["image"] for item in items])).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def prior_quality(prior: Any, encoder: Any, settings: QualitySettings | None = None) -> dict[str, float]:
    """FD (caption-conditioned samples vs real test images) and zero-shot accuracy of class samples."""
    from openeyes.world.dataset import WorldClassification, WorldImageText
    from openeyes.world.vocab import CLASSIFICATION_CLASSES, CLASSIFICATION_TEMPLATES

    settings = settings or QualitySettings()
    torch.manual_seed(settings.seed)
    low, high = prior.image_size, encoder.image_size
    pairs = _world_items(WorldImageText, settings, settings.num_captions, high)
    real = at_resolution(_to_tensor(pairs), low, high)  # [N, 3, high, high]
    fake = at_resolution(sample_batched(prior, [p["text"] for p in pairs], settings), low, high)
    fd = frechet_distance(image_features(encoder, real, settings.batch_size),
                          image_features(encoder, fake, settings.batch_size))

    classes = list(CLASSIFICATION_CLASSES)
    labels = torch.arange(len(classes)).repeat(settings.samples_per_class)  # [C * n]
    prompts = [settings.class_prompt.format(c=classes[i]) for i in labels.tolist()]
    class_samples = at_resolution(sample_batched(prior, prompts, settings), low, high)
    real_class = _world_items(WorldClassification, settings, len(labels), high)  # label = i % C, as ``labels``
    real_class_images = at_resolution(_to_tensor(real_class), low, high)
    return {
        "frechet_distance": fd,
        "zeroshot_acc1": zeroshot_accuracy(encoder, image_features(encoder, class_samples, settings.batch_size),
                                           labels, classes, CLASSIFICATION_TEMPLATES),
        "real_zeroshot_acc1": zeroshot_accuracy(encoder, image_features(encoder, real_class_images, settings.batch_size),
                                                labels, classes, CLASSIFICATION_TEMPLATES),
        "chance": 1.0 / len(classes),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="prior artifact, zoo:NAME or SD folder")
    parser.add_argument("--encoder", default="zoo:tiny-clip", help="encoder spec whose features are used")
    parser.add_argument("--out", required=True, help="JSON file to write")
    for name, value in asdict(QualitySettings()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    from openeyes.encoders.loading import load_encoder
    from openeyes.training.prior.loading import load_prior

    settings = QualitySettings(**{name: getattr(args, name) for name in asdict(QualitySettings())})
    encoder = load_encoder(args.encoder).eval()
    result = {"prior": args.prior, "encoder": args.encoder, "settings": asdict(settings),
              **prior_quality(load_prior(args.prior), encoder, settings)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Theorem 1 of the DCR supplement, measured: class scatter in feature space and in noise space.

For labelled images x_i (class y_i), features z_i = f(x_i) and, at one fixed step t and one fixed
noisy input x_t, noise predictions e_i = eps_theta(x_t, h_omega(z_i), t) (T(z) of Assumption 1):

    S_inner = 1/|Y| sum_y 1/n_y sum_{i in y} ||v_i - mean_y||^2                  Eqs. 11 / 13
    S_inter = 1/(|Y|(|Y|-1)) sum_{y != y'} ||mean_y - mean_y'||^2                Eqs. 12 / 14

for v = z (feature space; L2-normalized, the geometry CLIP scores with) and v = e (noise space).
Theorem 1 bounds the feature-space pair by the noise-space pair, so DCR's contrastive loss in
noise space (pull positives, push other images) should show as a lower S_inner / S_inter ratio.
Run: python -m openeyes.training.objectives.dcr_scatter --encoder A --projector P --prior Q --out F.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F


def class_scatter(values: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """S_inner, S_inter and S_inner / S_inter of rows ``values`` [N, ...] grouped by ``labels`` [N]."""
    flat = values.flatten(1).double()  # [N, P]
    classes = labels.unique()
    if classes.numel() < 2:
        raise ValueError("class scatter needs at least two classes")
    means, inner = [], []
    for label in classes.tolist():
        members = flat[labels == label]  # [n_y, P]
        mean = members.mean(0)
        means.append(mean)
        inner.append((members - mean).pow(2).sum(1).mean())
    centers = torch.stack(means)  # [|Y|, P]
    count = centers.shape[0]
    pairwise = torch.cdist(centers, centers).pow(2)  # [|Y|, |Y|], zero diagonal
    s_inner = float(torch.stack(inner).mean())
    s_inter = float(pairwise.sum() / (count * (count - 1)))
    return {"inner": s_inner, "inter": s_inter, "ratio": s_inner / s_inter}


@torch.no_grad()
def scatter_quantities(encoder: Any, prior: Any, conditioner: Any, images01: torch.Tensor, labels: torch.Tensor,
                       timestep: int, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """Feature- and noise-space scatter of ``images01`` [N, 3, H, W] (labels [N]) at step ``timestep``.

    The fixed noisy input is the first image, noised at ``timestep`` with seeded noise; every
    image's condition h_omega(f(x_i)) (added to the empty prompt) is applied to it.
    """
    features = torch.cat([encoder.encode_image(encoder.normalize(images01[i:i + batch_size])).float()
                          for i in range(0, images01.shape[0], batch_size)])  # [N, D]
    generator = torch.Generator().manual_seed(seed)
    x0 = prior.to_model_space(images01[:1])  # [1, c, h, w]
    t = torch.full((1,), timestep, dtype=torch.long)
    x_t = prior.schedule.add_noise(x0, torch.randn(x0.shape, generator=generator).to(x0), t)
    empty = prior.empty_condition()  # [L, C]
    noise = []
    for start in range(0, features.shape[0], batch_size):
        conditions = conditioner(features[start:start + batch_size].to(x0.dtype), None, empty)  # [b, L, C]
        rows = conditions.shape[0]
        noise.append(prior.predict(x_t.expand(rows, -1, -1, -1), t.expand(rows), conditions).float())
    predictions = torch.cat(noise)  # [N, c, h, w]
    return {"feature": class_scatter(F.normalize(features, dim=-1), labels),
            "feature_raw": class_scatter(features, labels),
            "noise": class_scatter(predictions, labels), "timestep": timestep, "n": int(labels.numel()),
            "classes": int(labels.unique().numel())}


def world_class_images(world_seed: int, per_class: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """World classification test images [C * per_class, 3, size, size] in [0, 1] and labels."""
    from openeyes.world.dataset import WorldClassification

    dataset = WorldClassification(world_seed, "test", size=size, length=len(WorldClassification.classes) * per_class)
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([torch.tensor(item["image"]).permute(2, 0, 1) for item in items]).float() / 255.0
    return images, torch.tensor([item["label"] for item in items])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", required=True, help="NAME=SPEC (repeatable) or SPEC")
    parser.add_argument("--projector", required=True, help="DCR projector folder (stage 1's)")
    parser.add_argument("--prior", default="zoo:tiny-prior")
    parser.add_argument("--timestep", type=int, default=500)
    parser.add_argument("--world-seed", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from openeyes.encoders.loading import load_encoder
    from openeyes.training.objectives.dcr import load_projector
    from openeyes.training.prior.loading import load_prior

    prior = load_prior(args.prior)
    conditioner, _ = load_projector(args.projector)
    conditioner.eval()
    results = {"prior": args.prior, "projector": args.projector, "world_seed": args.world_seed, "models": {}}
    for entry in args.encoder:
        name, _, spec = entry.rpartition("=")
        encoder = load_encoder(spec).eval()
        images, labels = world_class_images(args.world_seed, args.per_class, encoder.image_size)
        results["models"][name or spec] = scatter_quantities(encoder, prior, conditioner, images, labels,
                                                             args.timestep, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""The UI's "compare encoders" view: MMVP-style pairs rendered from the synthetic world, and each
encoder's MMVP-VLM verdict on them (both statements must pick their own image).

``compare_view`` orders the pairs where the two encoders disagree first and counts per pattern,
so the view shows at once where an enhanced encoder differs from its base. ``opening_view`` is what
the tab opens on (issue 19.6): the operator's default pair over every pattern, narrowed to the
patterns where the two encoders differ.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def world_pairs(n: int, size: int = 64, seed: int = 0, patterns: list[str] | None = None) -> list[tuple[Any, Any, str, str, str]]:
    """``n`` MMVP-style pairs (image A, image B, statement A, statement B, pattern), cycling ``patterns`` (all nine by default)."""
    from PIL import Image

    from openeyes.world.config import WorldConfig
    from openeyes.world.pairs import PATTERNS, build_pair
    from openeyes.world.render import render

    config = WorldConfig(image_size=size)
    rng = np.random.default_rng(seed)
    pairs = []
    patterns = list(patterns or PATTERNS)
    for i in range(n):
        pattern = patterns[i % len(patterns)]
        pair = build_pair(pattern, rng, config)
        pairs.append((Image.fromarray(render(pair.scene_a, config)), Image.fromarray(render(pair.scene_b, config)),
                      pair.statement_a, pair.statement_b, pattern))
    return pairs


def differing_patterns(table: list[list]) -> list[str]:
    """Patterns with at least one pair where the two encoders differ, most differing first (``compare_view`` rows)."""
    differ = Counter(row[0] for row in table if row[5])
    return [pattern for pattern, _ in differ.most_common()]


def compare_on_pairs(encoders: dict[str, Any], pairs: list[tuple]) -> list[dict[str, Any]]:
    """For each pair and encoder, MMVP-VLM's verdict: both statements pick their own image."""
    import torch

    from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import pair_logits, predict_pair

    rows = [{"pattern": p[4], "statement_a": p[2], "statement_b": p[3]} for p in pairs]
    for label, encoder in encoders.items():
        images = encoder.embed_images([image for p in pairs for image in p[:2]])  # [2P, D]
        texts = encoder.embed_texts([text for p in pairs for text in p[2:4]])  # [2P, D]
        logits = pair_logits(torch.from_numpy(images).view(len(pairs), 2, -1), torch.from_numpy(texts).view(len(pairs), 2, -1),
                             encoder.logit_scale)  # [P, 2, 2]
        for row, pair_logit in zip(rows, logits):
            first, second, _, _ = predict_pair(pair_logit)
            row[label] = "right" if (first, second) == ("img1", "img2") else "wrong"
    return rows


def compare_view(encoders: dict[str, Any], pairs: list[tuple]) -> tuple[list[list], list[tuple], str]:
    """(table rows, gallery, summary) for two encoders labelled "base" and "enhanced" on ``pairs``."""
    rows = compare_on_pairs(encoders, pairs)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["base"] == rows[i]["enhanced"])  # disagreements first
    table = [[rows[i]["pattern"], rows[i]["statement_a"], rows[i]["statement_b"], rows[i]["base"], rows[i]["enhanced"],
              "yes" if rows[i]["base"] != rows[i]["enhanced"] else ""] for i in order]
    gallery = [(image, f"{rows[i]['pattern']} {side}") for i in order for image, side in ((pairs[i][0], "A"), (pairs[i][1], "B"))]
    right = {k: sum(r[k] == "right" for r in rows) for k in ("base", "enhanced")}
    differ = Counter(r["pattern"] for r in rows if r["base"] != r["enhanced"])
    where = ", ".join(f"{p} ({n})" for p, n in differ.most_common()) or "none: the two encoders agree on every pair"
    summary = (f"pairs right (both statements pick their own image): base {right['base']}/{len(rows)}, "
               f"enhanced {right['enhanced']}/{len(rows)}. Pairs where they differ: {where}.")
    return table, gallery, summary


def opening_view(encoders: dict[str, Any], pairs: list[tuple]) -> tuple[list[list], list[tuple], str, list[str]]:
    """(table, gallery, summary, patterns): ``compare_view`` on ``pairs`` kept to the patterns where the
    encoders differ (every pattern when they agree throughout), and those patterns."""
    table, gallery, summary = compare_view(encoders, pairs)
    patterns = differing_patterns(table) or sorted({row[0] for row in table})
    keep = [i for i, row in enumerate(table) if row[0] in patterns]
    return [table[i] for i in keep], [gallery[j] for i in keep for j in (2 * i, 2 * i + 1)], summary, patterns

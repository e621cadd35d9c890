"""MMVP-VLM pair scoring, as tsb0601/MMVP ``scripts/evaluate_vlm.py`` does it.

For each pair (two CSV rows, odd qid then qid+1) and each statement k, the reference takes
CLIP's ``logits_per_text`` over the pair's two images, applies a softmax and predicts
``img1`` iff P(img1 | text_k) > 0.5, else ``img2`` (so a tie goes to img2). Ground truth is
``img1`` for an odd qid and ``img2`` for an even one. A pair counts only if both statements
pick their own image (text -> image direction only).

Categories follow the reference's **row order** (``categories[pair_idx // 15]``); we also
group by the CSV ``Type`` of the pair's first row and require every Type to hold the same
number of pairs (15 in the real set), as BENCHMARKS.md section 1a recommends. A set made of
several 135-pair units (the synthetic world's larger exports) repeats the row-order blocks.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import torch

from openeyes.errors import UserError

# The reference's category list, in the order its rows come in.
CATEGORIES = (
    "Orientation and Direction",
    "Presence of Specific Features",
    "State and Condition",
    "Quantity and Count",
    "Positional and Relational Context",
    "Color and Appearance",
    "Structural Characteristics",
    "Texts",
    "Viewpoint and Perspective",
)

# The CSV's Type values (folder names, with spaces) and the category each one stands for.
TYPE_TO_CATEGORY = {
    "Orientation": "Orientation and Direction",
    "Presence": "Presence of Specific Features",
    "State": "State and Condition",
    "Quantity": "Quantity and Count",
    "Spatial": "Positional and Relational Context",
    "Color": "Color and Appearance",
    "Structural Character": "Structural Characteristics",
    "Text": "Texts",
    "Camera Perspective": "Viewpoint and Perspective",
}

REFERENCE_PAIRS_PER_CATEGORY = 15
TEXT_PREFIX = "a photo of "  # the reference prepends this to every statement


@dataclass(frozen=True)
class PairVerdict:
    """What the reference's CSV output records for one pair."""

    qid1: int
    qid2: int
    pred1: str          # "img1" | "img2"
    pred2: str
    gt1: str
    gt2: str
    q1score: float      # P(img1 | text1)
    q2score: float      # P(img1 | text2)
    category: str       # by row order
    type: str           # the first row's Type
    correct: bool


@dataclass
class MMVPVLMScore:
    """Per-category (row order) and per-Type pair accuracies in percent, and their mean."""

    per_category: dict[str, float]           # reference categories, 100 * correct / pairs_per_category
    per_type: dict[str, float]               # CSV Type groups, same formula
    average: float                           # mean over the categories (= overall pair accuracy)
    pair_accuracy: float                     # 100 * correct pairs / all pairs
    pairs_per_category: int
    verdicts: list[PairVerdict] = field(default_factory=list)


def ground_truth(qid: int) -> str:
    """Statement k matches image k: odd qid -> img1, even qid -> img2."""
    return "img1" if qid % 2 == 1 else "img2"


def predict_pair(logits_per_text: torch.Tensor) -> tuple[str, str, float, float]:
    """[2 texts, 2 images] logits -> (pred1, pred2, P(img1|text1), P(img1|text2)).

    Softmax over the two images, then ``img1`` only if its probability is strictly above 0.5.
    """
    if tuple(logits_per_text.shape) != (2, 2):
        raise ValueError(f"expected logits of shape [2, 2], got {tuple(logits_per_text.shape)}")
    probs = logits_per_text.float().softmax(dim=-1)  # [2, 2]
    p1, p2 = float(probs[0, 0]), float(probs[1, 0])
    return ("img1" if p1 > 0.5 else "img2"), ("img1" if p2 > 0.5 else "img2"), p1, p2


def right_image_probability(verdict: PairVerdict) -> float:
    """The mean over a pair's two statements of the probability the text->image softmax gives the
    statement's own image (outside the reference's scoring). 0.5: no preference; the pair counts as
    right only when both probabilities exceed 0.5, so this moves before the accuracy does."""
    own1 = verdict.q1score if verdict.gt1 == "img1" else 1.0 - verdict.q1score
    own2 = verdict.q2score if verdict.gt2 == "img1" else 1.0 - verdict.q2score
    return 0.5 * (own1 + own2)


def pair_logits(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """CLIP's logits_per_text for pairs: [P, 2, D] images, [P, 2, D] texts -> [P, 2 texts, 2 images]."""
    image_emb = torch.nn.functional.normalize(image_emb.float(), dim=-1)
    text_emb = torch.nn.functional.normalize(text_emb.float(), dim=-1)
    return logit_scale * torch.einsum("ptd,pid->pti", text_emb, image_emb)


def check_type_groups(types: Sequence[str], pairs_per_type: int) -> None:
    """There must be 9 Types, each holding exactly ``pairs_per_type`` pairs."""
    counts = Counter(types)
    wrong = {t: n for t, n in counts.items() if n != pairs_per_type}
    if wrong:
        listed = ", ".join(f"{t!r}: {n}" for t, n in sorted(wrong.items()))
        raise UserError(f"MMVP-VLM: every Type must have {pairs_per_type} pairs; these do not: {listed}")
    if len(counts) != len(CATEGORIES):
        raise UserError(f"MMVP-VLM: expected {len(CATEGORIES)} Types, found {len(counts)}: {sorted(counts)}")


def pair_category(index: int, block: int = REFERENCE_PAIRS_PER_CATEGORY) -> str:
    """The reference's category of pair ``index`` (CSV order): nine row-order blocks of ``block`` pairs, repeated."""
    return CATEGORIES[(index // block) % len(CATEGORIES)]


def score_mmvp_vlm(
    logits: torch.Tensor,
    qids: Sequence[tuple[int, int]],
    types: Sequence[str],
    block: int = REFERENCE_PAIRS_PER_CATEGORY,
) -> MMVPVLMScore:
    """Score all pairs. ``logits`` is [P, 2 texts, 2 images]; ``qids``/``types`` one entry per pair.

    The real set has P = 135: nine row-order blocks of ``block`` = 15 pairs. A set made of
    several such 135-pair units (the synthetic world can export more) repeats the nine blocks,
    so the category is ``CATEGORIES[(pair_idx // 15) % 9]``; for one unit that is the
    reference's ``categories[pair_idx // 15]``. The per-category denominator is, as in the
    reference, ``num_pairs // 9``.
    """
    n_pairs = len(qids)
    if logits.shape[0] != n_pairs or len(types) != n_pairs:
        raise ValueError(f"{logits.shape[0]} logits, {n_pairs} qid pairs and {len(types)} types differ")
    unit = block * len(CATEGORIES)
    if n_pairs == 0 or n_pairs % unit:
        raise UserError(
            f"MMVP-VLM: {n_pairs} pairs; expected a multiple of {unit} ({len(CATEGORIES)} categories x {block} pairs)"
        )
    pairs_per_category = n_pairs // len(CATEGORIES)
    check_type_groups(types, pairs_per_category)

    verdicts = []
    for index, ((qid1, qid2), qtype) in enumerate(zip(qids, types)):
        pred1, pred2, p1, p2 = predict_pair(logits[index])
        gt1, gt2 = ground_truth(qid1), ground_truth(qid2)
        verdicts.append(PairVerdict(
            qid1=qid1, qid2=qid2, pred1=pred1, pred2=pred2, gt1=gt1, gt2=gt2, q1score=p1, q2score=p2,
            category=pair_category(index, block), type=qtype,
            correct=(pred1 == gt1 and pred2 == gt2),
        ))

    per_category = {c: 0.0 for c in CATEGORIES}
    per_type: dict[str, float] = {}
    for verdict in verdicts:
        per_category[verdict.category] += verdict.correct
        per_type[verdict.type] = per_type.get(verdict.type, 0.0) + verdict.correct
    per_category = {c: 100.0 * n / pairs_per_category for c, n in per_category.items()}
    per_type = {t: 100.0 * n / pairs_per_category for t, n in per_type.items()}
    n_correct = sum(v.correct for v in verdicts)
    return MMVPVLMScore(
        per_category=per_category,
        per_type=per_type,
        average=sum(per_category.values()) / len(per_category),
        pair_accuracy=100.0 * n_correct / n_pairs,
        pairs_per_category=pairs_per_category,
        verdicts=verdicts,
    )

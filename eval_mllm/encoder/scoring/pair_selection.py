"""Two-by-two selection scores: NaturalBench retrieval and Winoground-style instances.

NaturalBench ``naturalbench_retrieval.py`` (two images, two captions per group), with
``s[c, i]`` the similarity of caption c and image i:
  text correct : each image scores its own caption higher than the other caption
                 (s[0,0] > s[1,0] and s[1,1] > s[0,1])
  image correct: each caption scores its own image higher than the other image
                 (s[0,0] > s[0,1] and s[1,1] > s[1,0])
  group correct: both. Each score is averaged over the groups.
CLIP_benchmark ``image_caption_selection.py`` (any n images and n texts, image k matches
text k), with ``scores = images x texts``: ``text_acc`` every image's argmax is its own text,
``image_acc`` every text's argmax is its own image, ``acc`` both.
"""
from __future__ import annotations

from typing import Sequence

import torch


def naturalbench_group_correct(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[G, 2 captions, 2 images] -> (text, image, group) correctness, each bool [G]. Ties are wrong."""
    s = scores.float()
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    image = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    return text, image, text & image


def naturalbench_retrieval_scores(scores: torch.Tensor) -> dict[str, float]:
    """Mean text, image and group scores over G groups of [2 captions, 2 images] similarities."""
    text, image, group = naturalbench_group_correct(scores)
    return {
        "text_score": text.double().mean().item(),
        "image_score": image.double().mean().item(),
        "group_score": group.double().mean().item(),
    }


def winoground_instance_correct(scores: torch.Tensor) -> tuple[bool, bool]:
    """One instance's [n images, n texts] scores -> (text_correct, image_correct) by argmax."""
    n_images, n_texts = scores.shape
    if n_images != n_texts:
        raise ValueError(f"an instance needs as many images as texts, got {n_images} x {n_texts}")
    own = torch.arange(n_images)
    text_correct = bool((scores.argmax(dim=1) == own).all())
    image_correct = bool((scores.argmax(dim=0) == own).all())
    return text_correct, image_correct


def winoground_scores(instances: Sequence[torch.Tensor]) -> dict[str, float]:
    """text_acc, image_acc and acc averaged over instances of [n images, n texts] scores."""
    verdicts = [winoground_instance_correct(s) for s in instances]
    n = max(len(verdicts), 1)
    return {
        "text_acc": sum(t for t, _ in verdicts) / n,
        "image_acc": sum(i for _, i in verdicts) / n,
        "acc": sum(t and i for t, i in verdicts) / n,
    }

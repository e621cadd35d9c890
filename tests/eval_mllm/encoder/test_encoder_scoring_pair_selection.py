"""NaturalBench retrieval text/image/group scores and Winoground-style selection."""
import pytest
import torch

from openeyes.eval_mllm.encoder.scoring.pair_selection import (
    naturalbench_group_correct, naturalbench_retrieval_scores, winoground_scores,
)


def test_naturalbench_groups_by_hand():
    scores = torch.tensor([
        [[0.9, 0.1], [0.2, 0.8]],   # all correct
        [[0.9, 0.8], [0.2, 0.1]],   # caption 0 wins on both images: text and image wrong
        [[0.5, 0.4], [0.6, 0.7]],   # image 0 prefers caption 1 -> text wrong; captions pick own images -> image ok
        [[0.5, 0.5], [0.1, 0.9]],   # tie on caption 0 -> image wrong; text ok
    ])
    text, image, group = naturalbench_group_correct(scores)
    assert text.tolist() == [True, False, False, True]
    assert image.tolist() == [True, False, True, False]
    assert group.tolist() == [True, False, False, False]
    assert naturalbench_retrieval_scores(scores) == pytest.approx(
        {"text_score": 0.5, "image_score": 0.5, "group_score": 0.25}
    )


def test_winoground_selection():
    right = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    text_only = torch.tensor([[0.9, 0.1], [0.95, 0.99]])  # images pick own texts; text 0 picks image 1
    assert winoground_scores([right, text_only]) == pytest.approx(
        {"text_acc": 1.0, "image_acc": 0.5, "acc": 0.5}
    )

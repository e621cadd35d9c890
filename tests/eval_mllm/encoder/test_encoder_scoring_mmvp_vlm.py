"""MMVP-VLM pair scoring: softmax > 0.5, ties to img2, row-order categories, Type-count check."""
import pytest
import torch

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import (
    CATEGORIES, ground_truth, pair_logits, predict_pair, right_image_probability, score_mmvp_vlm,
)

TYPES = ["Orientation", "Presence", "State", "Quantity", "Spatial", "Color",
         "Structural Character", "Text", "Camera Perspective"]
RIGHT = torch.tensor([[2.0, 1.0], [1.0, 2.0]])   # each text prefers its own image
TIE = torch.zeros(2, 2)                            # both texts see equal logits


def reference_set(n_units=1, right_per_block=None):
    """qids, types and logits for n_units x 135 pairs; block b gets right_per_block[b] right pairs."""
    qids, types, logits = [], [], []
    for unit in range(n_units):
        for block, qtype in enumerate(TYPES):
            for k in range(15):
                index = len(qids)
                qids.append((2 * index + 1, 2 * index + 2))
                types.append(qtype)
                good = right_per_block is not None and k < right_per_block[block]
                logits.append(RIGHT if good else TIE)
    return qids, types, torch.stack(logits)


def test_ground_truth_by_parity():
    assert ground_truth(1) == "img1" and ground_truth(2) == "img2" and ground_truth(149) == "img1"


def test_tie_goes_to_img2_and_pair_is_wrong():
    pred1, pred2, p1, p2 = predict_pair(TIE)
    assert (pred1, pred2) == ("img2", "img2") and p1 == p2 == 0.5
    qids, types, logits = reference_set()
    score = score_mmvp_vlm(logits, qids, types)
    assert score.average == 0.0 and not any(v.correct for v in score.verdicts)


def test_strict_threshold_on_softmax():
    # a difference too small to move float32 softmax off 0.5 is a tie for the reference
    assert predict_pair(torch.tensor([[1e-9, 0.0], [0.0, 1e-9]]))[:2] == ("img2", "img2")
    assert predict_pair(torch.tensor([[0.1, 0.0], [0.0, 0.1]]))[:2] == ("img1", "img2")


def test_per_category_scores_and_mean():
    right = [15, 0, 3, 15, 7, 1, 0, 15, 9]
    qids, types, logits = reference_set(right_per_block=right)
    score = score_mmvp_vlm(logits, qids, types)
    assert list(score.per_category) == list(CATEGORIES)
    assert [round(v, 6) for v in score.per_category.values()] == [round(100 * r / 15, 6) for r in right]
    assert score.average == pytest.approx(100 * sum(right) / 135)
    assert score.pair_accuracy == pytest.approx(score.average)
    assert score.per_type["Spatial"] == pytest.approx(100 * 7 / 15)


def test_only_text_to_image_direction_counts():
    # text 1 prefers image 1 and text 2 prefers image 2, while image 1 prefers text 2 (column view)
    logits = torch.tensor([[5.0, 4.0], [9.0, 10.0]])
    assert predict_pair(logits)[:2] == ("img1", "img2")


def test_category_by_row_order_not_type_column():
    qids, types, logits = reference_set(right_per_block=[15, 0, 0, 0, 0, 0, 0, 0, 0])
    # relabel the first two blocks' Types (each still has 15 pairs): categories follow rows
    types = ["Presence"] * 15 + ["Orientation"] * 15 + types[30:]
    score = score_mmvp_vlm(logits, qids, types)
    assert score.per_category["Orientation and Direction"] == 100.0
    assert score.per_type["Presence"] == 100.0 and score.per_type["Orientation"] == 0.0


def test_type_with_wrong_pair_count_fails():
    qids, types, logits = reference_set()
    types = list(types)
    types[15] = "Orientation"  # Orientation now 16 pairs, Presence 14
    with pytest.raises(UserError, match="every Type must have 15 pairs.*'Orientation': 16"):
        score_mmvp_vlm(logits, qids, types)


def test_pair_count_not_a_multiple_of_135_fails():
    qids, types, logits = reference_set()
    with pytest.raises(UserError, match="134 pairs"):
        score_mmvp_vlm(logits[:134], qids[:134], types[:134])


def test_two_units_repeat_the_row_order_blocks():
    right = [15, 0, 0, 0, 0, 0, 0, 0, 15]
    qids, types, logits = reference_set(n_units=2, right_per_block=right)
    score = score_mmvp_vlm(logits, qids, types)
    assert score.pairs_per_category == 30
    assert score.per_category["Orientation and Direction"] == 100.0
    assert score.per_category["Viewpoint and Perspective"] == 100.0
    assert score.per_category["Texts"] == 0.0


def test_pair_logits_match_clip_logits_per_text():
    torch.manual_seed(0)
    images, texts = torch.randn(3, 2, 8), torch.randn(3, 2, 8)
    logits = pair_logits(images, texts, 100.0)
    for p in range(3):
        i = torch.nn.functional.normalize(images[p], dim=-1)
        t = torch.nn.functional.normalize(texts[p], dim=-1)
        assert torch.allclose(logits[p], 100.0 * t @ i.T, atol=1e-5)


def test_right_image_probability_is_the_mean_softmax_on_each_statements_own_image():
    logits = torch.stack([RIGHT, TIE, torch.tensor([[0.0, 3.0], [0.0, 1.0]])])  # right, tie, text 1 wrong
    score = score_mmvp_vlm(torch.cat([logits, TIE.expand(132, 2, 2)]), *reference_set()[:2])
    right, tie, wrong = (right_image_probability(v) for v in score.verdicts[:3])
    sigmoid = torch.sigmoid(torch.tensor(1.0)).item()
    assert right == pytest.approx(sigmoid) and tie == pytest.approx(0.5)
    # text 1 gives its own image 1 / (1 + e^3); text 2 gives image 1 1 / (1 + e), so its own image 1 - that
    expected = 0.5 * (1 / (1 + torch.e ** 3) + (1 - 1 / (1 + torch.e)))
    assert wrong == pytest.approx(expected) and not score.verdicts[2].correct
    swapped = score.verdicts[0].__class__(**{**score.verdicts[0].__dict__, "gt1": "img2", "gt2": "img1"})
    assert right_image_probability(swapped) == pytest.approx(1 - sigmoid)  # the ground truth decides which image is own

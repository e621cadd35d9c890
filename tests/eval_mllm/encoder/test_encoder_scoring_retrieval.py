"""Retrieval recall@k with a variable number of captions per image (CLIP_benchmark)."""
import pytest
import torch
import torch.nn.functional as F

from openeyes.eval_mllm.encoder.scoring.retrieval import (
    positive_pairs, rank_of_first_positive, retrieval_metrics, similarity,
)

E = torch.eye(3)
IMAGES = E.clone()
# owners: t0 -> img0, t1..t3 -> img1, t4..t5 -> img2 (1, 3 and 2 captions)
TEXTS = torch.stack([
    E[1] + 0.1 * E[0],   # t0 (img0): nearest img1, then img0
    E[1],                # t1 (img1): hit
    E[0] + 0.05 * E[1],  # t2 (img1): nearest img0, then img1
    E[1] + 0.2 * E[2],   # t3 (img1): hit
    E[2],                # t4 (img2): hit
    E[0] + 0.5 * E[2],   # t5 (img2): nearest img0, then img2
])
OWNERS = [0, 1, 1, 1, 2, 2]


def test_hand_computed_recalls():
    metrics = retrieval_metrics(IMAGES, TEXTS, OWNERS, recall_k=(1, 2, 3))
    assert metrics["image_retrieval_recall@1"] == pytest.approx(3 / 6)  # t1, t3, t4
    assert metrics["image_retrieval_recall@2"] == pytest.approx(1.0)
    # img0's best captions are t2 and t5 (other images'); img1 -> t1, img2 -> t4
    assert metrics["text_retrieval_recall@1"] == pytest.approx(2 / 3)
    assert metrics["text_retrieval_recall@2"] == pytest.approx(2 / 3)
    assert metrics["text_retrieval_recall@3"] == pytest.approx(1.0)  # t0 ranks third for img0


def reference_recall(scores, positive, k):
    """A literal transcription of CLIP_benchmark's recall_at_k (one-hot of the top-k)."""
    n_queries, n_candidates = scores.shape
    top = torch.topk(scores, k, dim=1)[1]
    onehot = F.one_hot(top, num_classes=n_candidates)
    true_positive = (onehot * positive.view(n_queries, 1, n_candidates)).sum(dim=(1, 2))
    return ((true_positive / positive.sum(dim=1)) > 0).float().mean().item()


def test_matches_reference_transcription_on_random_data():
    torch.manual_seed(1)
    counts = [1, 5, 2, 3, 1, 4, 2, 1]
    owners = [i for i, c in enumerate(counts) for _ in range(c)]
    images, texts = torch.randn(len(counts), 16), torch.randn(len(owners), 16)
    metrics = retrieval_metrics(images, texts, owners, recall_k=(1, 5))
    scores = similarity(texts, images)
    positive = positive_pairs(owners, len(counts))
    for k in (1, 5):
        assert metrics[f"image_retrieval_recall@{k}"] == pytest.approx(reference_recall(scores, positive, k))
        assert metrics[f"text_retrieval_recall@{k}"] == pytest.approx(reference_recall(scores.T, positive.T, k))


def test_k_larger_than_candidates_is_clamped():
    metrics = retrieval_metrics(IMAGES, TEXTS, OWNERS, recall_k=(10,))
    assert metrics["image_retrieval_recall@10"] == 1.0 and metrics["text_retrieval_recall@10"] == 1.0


def test_image_without_captions_counts_as_miss():
    images = torch.eye(3)
    texts = torch.eye(3)[:2]
    metrics = retrieval_metrics(images, texts, [0, 1], recall_k=(3,))
    assert metrics["text_retrieval_recall@3"] == pytest.approx(2 / 3)


def test_rank_of_first_positive():
    scores = similarity(TEXTS, IMAGES)
    ranks = rank_of_first_positive(scores, positive_pairs(OWNERS, 3))
    assert ranks.tolist() == [2, 1, 2, 1, 1, 2]

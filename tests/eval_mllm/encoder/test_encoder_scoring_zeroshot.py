"""Zero-shot classification scoring (CLIP_benchmark conventions)."""
import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.scoring.zeroshot import (
    class_weights, classification_metrics, per_class_recall, prompts_for_class, zeroshot_logits,
)


def test_prompts_from_list_and_class_specific_dict():
    assert prompts_for_class("cat", ["a {c}.", "the {c}!"]) == ["a cat.", "the cat!"]
    cupl = {"cat": ["a fluffy cat with {whiskers}"], "dog": ["a dog"]}
    assert prompts_for_class("cat", cupl) == ["a fluffy cat with {whiskers}"]  # used as written
    with pytest.raises(UserError, match="no entry for class 'bird'"):
        prompts_for_class("bird", cupl)


def test_class_weights_are_normalised_mean_of_normalised_prompts():
    a = torch.tensor([[3.0, 0.0], [0.0, 0.5]])  # two prompts of class 0, different norms
    b = torch.tensor([[1.0, 1.0]])
    weights = class_weights([a, b])  # [D=2, C=2]
    expected0 = torch.tensor([1.0, 1.0]) / math.sqrt(2)  # mean of e0 and e1, renormalised
    assert torch.allclose(weights[:, 0], expected0)
    assert torch.allclose(weights[:, 1], expected0)
    assert weights.shape == (2, 2)


def test_logits_scale_100_over_normalised_images():
    image = torch.tensor([[2.0, 0.0]])
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(zeroshot_logits(image, weights), torch.tensor([[100.0, 0.0]]))


def test_acc5_is_nan_below_five_classes():
    logits = torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.1, 0.2, 0.9, 0.0]])
    metrics = classification_metrics(logits, torch.tensor([0, 1]))
    assert metrics["acc1"] == 0.5 and math.isnan(metrics["acc5"])


def test_acc1_acc5_and_balanced_accuracy():
    torch.manual_seed(0)
    logits = torch.randn(40, 7)
    labels = torch.randint(0, 7, (40,))
    metrics = classification_metrics(logits, labels)
    top5 = logits.topk(5, dim=1).indices
    assert metrics["acc1"] == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    assert metrics["acc5"] == pytest.approx((top5 == labels[:, None]).any(1).float().mean().item())
    assert metrics["mean_per_class_recall"] == pytest.approx(
        balanced_accuracy_score(labels.numpy(), logits.argmax(1).numpy())
    )


def test_mean_per_class_recall_differs_from_acc1_on_imbalance():
    # class 0: 3 samples all right; class 1: 1 sample wrong -> acc1 .75, balanced .5
    logits = torch.tensor([[1.0, 0.0]] * 4)
    labels = torch.tensor([0, 0, 0, 1])
    metrics = classification_metrics(logits, labels)
    assert metrics["acc1"] == 0.75 and metrics["mean_per_class_recall"] == 0.5
    table = per_class_recall(logits, labels, ["a", "b"])
    assert table == {"a": {"recall": 1.0, "n": 3}, "b": {"recall": 0.0, "n": 1}}


def test_end_to_end_weights_classify_matching_images():
    texts = F.normalize(torch.eye(5), dim=-1)
    weights = class_weights([texts[i:i + 1] for i in range(5)])
    images = torch.eye(5) * 3 + 0.1
    metrics = classification_metrics(zeroshot_logits(images, weights), torch.arange(5))
    assert metrics["acc1"] == 1.0 and metrics["acc5"] == 1.0

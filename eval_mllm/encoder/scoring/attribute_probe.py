"""Attribute probe: per MMVP pattern, how well a linear probe reads the varied attribute from frozen features.

Issue 19: MMVP-VLM has 15 pairs per pattern, too few to see a fine-perception gain. Here each
pattern (orientation, dot present, fill, count, left/right, colour, structure, glyph, view)
gets its own L2 logistic-regression probe (``linear_probe.fit_predict``: z-scored features;
the caller's ``ProbeConfig``, ``row_space`` for wide features), fitted on the pattern's train
images and scored on its test images, which come from other pairs. Each pattern is reported with two baselines: ``chance`` (1 / distinct test
labels) and ``majority`` (share of the most frequent test label, the best constant guess).
The features are whatever the caller hands in: the pooled image embedding [N, D], or every
patch token of one layer flattened in grid order [N, P * W], where a left/right relation is a
linear function of where the object's tokens are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openeyes.eval_mllm.encoder.scoring.linear_probe import ProbeConfig, fit_predict


@dataclass
class LabelledFeatures:
    """One split: a feature row, a pattern and a label per image."""

    features: np.ndarray  # [N, F]
    patterns: np.ndarray  # [N] MMVP-VLM Type per row (str)
    labels: np.ndarray    # [N] value of the varied attribute per row (str)


@dataclass(frozen=True)
class PatternScore:
    accuracy: float  # test accuracy of the pattern's probe
    chance: float    # 1 / number of distinct test labels of the pattern
    majority: float  # share of the pattern's most frequent test label
    classes: int     # distinct test labels
    n_train: int     # train rows of the pattern
    n_test: int      # test rows of the pattern


def baselines(labels: np.ndarray) -> tuple[float, float, int]:
    """(chance, majority rate, number of classes) of test ``labels`` [M]."""
    _, counts = np.unique(labels, return_counts=True)
    return 1.0 / len(counts), float(counts.max() / counts.sum()), len(counts)


def probe_patterns(train: LabelledFeatures, test: LabelledFeatures,
                   config: ProbeConfig) -> tuple[dict[str, PatternScore], np.ndarray]:
    """Fit one probe per pattern of ``test`` on that pattern's ``train`` rows.

    Returns the scores by pattern (in order of first appearance in ``test``) and the predicted
    label of every test row [M]. A pattern without train rows, or whose train rows hold a single
    label, is a ValueError naming it. A test label never seen in training counts as wrong.
    """
    if train.features.shape[1] != test.features.shape[1]:
        raise ValueError(f"train and test features differ in width: {train.features.shape} vs {test.features.shape}")
    predictions = np.empty(len(test.labels), dtype=object)
    scores = {}
    for pattern in dict.fromkeys(test.patterns.tolist()):
        fit_rows, test_rows = train.patterns == pattern, test.patterns == pattern
        seen = np.unique(train.labels[fit_rows])
        if len(seen) < 2:
            found = "no train rows" if not len(seen) else f"one train label ({seen[0]!r})"
            raise ValueError(f"pattern {pattern!r} has {found}; a probe needs two labels to tell apart")
        predicted = fit_predict(train.features[fit_rows], train.labels[fit_rows], test.features[test_rows], config)
        predictions[test_rows] = predicted
        chance, majority, classes = baselines(test.labels[test_rows])
        scores[pattern] = PatternScore(float((predicted == test.labels[test_rows]).mean()), chance, majority, classes,
                                       int(fit_rows.sum()), int(test_rows.sum()))
    return scores, predictions


def metric_key(kind: str, pattern: str) -> str:
    """``pooled`` + ``Camera Perspective`` -> ``pooled_camera_perspective``."""
    return f"{kind}_{pattern.lower().replace(' ', '_')}"


def summarize(scores: dict[str, dict[str, PatternScore]]) -> tuple[dict[str, float], dict[str, dict]]:
    """(metrics, per-pattern table) from the scores of each feature kind (``pooled``, ``patches``).

    Metrics: ``<kind>_mean`` (mean accuracy over patterns), ``<kind>_<pattern>``, and the mean
    baselines ``chance_mean`` and ``majority_mean``. The table has one row per pattern with
    ``<kind>_acc`` for each kind, the baselines and the row counts.
    """
    metrics, table = {}, {}
    for kind, by_pattern in scores.items():
        metrics[f"{kind}_mean"] = float(np.mean([s.accuracy for s in by_pattern.values()]))
        for pattern, score in by_pattern.items():
            metrics[metric_key(kind, pattern)] = score.accuracy
            table.setdefault(pattern, {})[f"{kind}_acc"] = score.accuracy
    first = next(iter(scores.values()))  # the baselines depend on the labels only, not on the features
    metrics["chance_mean"] = float(np.mean([s.chance for s in first.values()]))
    metrics["majority_mean"] = float(np.mean([s.majority for s in first.values()]))
    for pattern, score in first.items():
        table[pattern].update(chance=score.chance, majority=score.majority, classes=score.classes,
                              n_train=score.n_train, n_test=score.n_test)
    return metrics, table

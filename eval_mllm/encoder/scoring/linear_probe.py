"""Linear probe: how much a frozen encoder's features say about the labels, by logistic regression.

CLIP's linear-probe protocol (a logistic-regression classifier on frozen image features,
L2-regularised) with two additions for datasets that ship only an evaluation split: stratified
k-fold cross-validation over that split, and word-level accuracies for compositional class
names ("red circle": ``head_acc`` scores the last word, the category; ``modifier_acc`` the
rest, the attribute), which is how the world's shape gate is read (shared/WORLD.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ProbeConfig:
    c: float = 1.0  # inverse L2 strength of the logistic regression (sklearn's C)
    folds: int = 5  # k of the stratified k-fold when there is no training split
    seed: int = 0  # fold shuffling
    max_iter: int = 2000  # solver iterations (L-BFGS, or Newton-CG with row_space)
    row_space: bool = False  # wide features: fit in the training rows' span, by Newton-CG to tol 1e-8 (converged, fast)


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z-score both with the training features' statistics."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def to_row_space(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both in orthonormal coordinates of the span of the training rows: [N, r] and [M, r], r <= N.

    An L2-regularised linear model fitted on ``train`` [N, F] has its weights in that span (a
    component orthogonal to every row changes no logit and only adds to the penalty), so the
    probe fitted on the coordinates is the same probe, at r columns instead of F.
    """
    _, singular, basis = np.linalg.svd(train, full_matrices=False)  # basis [min(N, F), F]
    basis = basis[singular > singular[0] * 1e-10]  # [r, F]
    return train @ basis.T, test @ basis.T


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, config: ProbeConfig) -> np.ndarray:
    """Predicted labels of ``test_x`` [M] from a probe fitted on (``train_x`` [N, F], ``train_y`` [N])."""
    from sklearn.linear_model import LogisticRegression

    train_x, test_x = standardize(train_x.astype(np.float64), test_x.astype(np.float64))
    solver = {}
    if config.row_space:  # Newton steps are cheap on <= N columns and reach the optimum L-BFGS stops short of
        if train_x.shape[1] > train_x.shape[0]:
            train_x, test_x = to_row_space(train_x, test_x)
        solver = {"solver": "newton-cg", "tol": 1e-8}
    classifier = LogisticRegression(C=config.c, max_iter=config.max_iter, **solver)
    return classifier.fit(train_x, train_y).predict(test_x)


def cross_validated_predictions(features: np.ndarray, labels: np.ndarray, config: ProbeConfig) -> np.ndarray:
    """Out-of-fold predictions [N]: each item predicted by a probe that never saw it.

    An item of a class with a single member is predicted by a probe that never saw its class
    (and so counts as wrong): small evaluation splits are scored, not refused.
    """
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    folds = min(config.folds, int(counts.max()))  # a class rarer than k is simply absent from some folds
    if folds < 2 or (counts > 0).sum() < 2:
        raise ValueError("a cross-validated probe needs 2 classes and a class with at least 2 items")
    predictions = np.empty_like(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for train_index, test_index in splitter.split(features, labels):
        predictions[test_index] = fit_predict(features[train_index], labels[train_index], features[test_index], config)
    return predictions


def word_accuracies(predictions: np.ndarray, labels: np.ndarray, classnames: list[str]) -> dict[str, float]:
    """``head_acc`` (last word of the class name right) and ``modifier_acc`` (the words before it)."""
    split_names = [name.rsplit(" ", 1) for name in classnames]
    if not classnames or any(len(parts) != 2 for parts in split_names):
        return {}
    heads = np.array([parts[1] for parts in split_names])
    modifiers = np.array([parts[0] for parts in split_names])
    return {"head_acc": float((heads[predictions] == heads[labels]).mean()),
            "modifier_acc": float((modifiers[predictions] == modifiers[labels]).mean())}

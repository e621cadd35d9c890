"""Attribute-probe scoring: one probe per pattern, accuracies and baselines by hand, clear refusals,
and the row-space fit that makes flattened patch tokens affordable."""
import numpy as np
import pytest

from openeyes.eval_mllm.encoder.scoring.attribute_probe import (
    LabelledFeatures, baselines, metric_key, probe_patterns, summarize,
)
from openeyes.eval_mllm.encoder.scoring.linear_probe import ProbeConfig, fit_predict, to_row_space

PATTERN_LABELS = {"Orientation": ["left", "right", "up", "down"], "Spatial": ["left", "right"],
                  "Camera Perspective": ["close-up", "wide"]}


def split_set(rows_per_label: int, seed: int, informative: bool, dim: int = 12) -> LabelledFeatures:
    """Rows of every pattern and label; informative features put the label on its own axis."""
    rng = np.random.default_rng(seed)
    patterns, labels = [], []
    for pattern, names in PATTERN_LABELS.items():
        for name in names:
            patterns += [pattern] * rows_per_label
            labels += [name] * rows_per_label
    features = rng.normal(size=(len(labels), dim))  # [N, F]
    if informative:
        axis = {(p, n): k for k, (p, n) in enumerate((p, n) for p, ns in PATTERN_LABELS.items() for n in ns)}
        for row, key in enumerate(zip(patterns, labels)):
            features[row, axis[key]] += 6.0
    return LabelledFeatures(features, np.asarray(patterns), np.asarray(labels))


def test_linearly_encoded_labels_score_one_and_noise_scores_about_chance():
    scores, predictions = probe_patterns(split_set(10, 0, True), split_set(10, 1, True), ProbeConfig())
    assert list(scores) == list(PATTERN_LABELS)
    assert all(score.accuracy == 1.0 for score in scores.values())
    assert (predictions == split_set(10, 1, True).labels).all()
    noise, _ = probe_patterns(split_set(60, 2, False), split_set(60, 3, False), ProbeConfig())
    for pattern, score in noise.items():
        assert score.chance == 1 / len(PATTERN_LABELS[pattern])
        assert abs(score.accuracy - score.chance) < 0.15, (pattern, score)


def test_accuracy_and_baselines_match_a_hand_count():
    train = split_set(5, 4, False)
    test = LabelledFeatures(np.random.default_rng(5).normal(size=(4, 12)), np.asarray(["Spatial"] * 4),
                            np.asarray(["left", "left", "left", "right"]))
    scores, predictions = probe_patterns(train, test, ProbeConfig())
    assert list(scores) == ["Spatial"]  # only the test split's patterns are probed
    score = scores["Spatial"]
    assert score.accuracy == sum(p == t for p, t in zip(predictions, test.labels)) / 4
    assert (score.chance, score.majority, score.classes, score.n_train, score.n_test) == (0.5, 0.75, 2, 10, 4)
    assert baselines(np.asarray(["a", "b", "c", "c", "c", "c"])) == (1 / 3, 4 / 6, 3)
    expected = fit_predict(train.features[train.patterns == "Spatial"], train.labels[train.patterns == "Spatial"],
                           test.features, ProbeConfig())
    assert predictions.tolist() == expected.tolist()


def test_summary_keys_and_means():
    pooled, _ = probe_patterns(split_set(10, 0, True), split_set(10, 1, True), ProbeConfig())
    patches, _ = probe_patterns(split_set(10, 0, False), split_set(10, 1, False), ProbeConfig())
    metrics, table = summarize({"pooled": pooled, "patches": patches})
    assert metrics["pooled_mean"] == 1.0 and metric_key("patches", "Camera Perspective") == "patches_camera_perspective"
    assert metrics["patches_mean"] == pytest.approx(np.mean([s.accuracy for s in patches.values()]))
    assert metrics["chance_mean"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 2) / 3)
    assert metrics["patches_spatial"] == patches["Spatial"].accuracy
    assert list(table) == list(PATTERN_LABELS)
    assert set(table["Orientation"]) == {"pooled_acc", "patches_acc", "chance", "majority", "classes", "n_train", "n_test"}


def test_a_pattern_the_train_split_cannot_teach_is_refused():
    train, test = split_set(5, 0, True), split_set(5, 1, True)
    keep = train.patterns != "Spatial"
    without = LabelledFeatures(train.features[keep], train.patterns[keep], train.labels[keep])
    with pytest.raises(ValueError, match="'Spatial' has no train rows"):
        probe_patterns(without, test, ProbeConfig())
    one_label = LabelledFeatures(train.features, train.patterns, np.where(train.patterns == "Spatial", "left", train.labels))
    with pytest.raises(ValueError, match="'Spatial' has one train label"):
        probe_patterns(one_label, test, ProbeConfig())
    with pytest.raises(ValueError, match="width"):
        probe_patterns(train, LabelledFeatures(test.features[:, :3], test.patterns, test.labels), ProbeConfig())


def test_the_row_space_fit_is_the_full_fit():
    """Wide features (F >> N): the same probe in the training rows' span, converged."""
    from sklearn.linear_model import LogisticRegression

    from openeyes.eval_mllm.encoder.scoring.linear_probe import standardize

    rng = np.random.default_rng(6)
    train, test = rng.normal(size=(24, 300)), rng.normal(size=(40, 300))
    labels = np.repeat(["a", "b", "c"], 8)
    small_train, small_test = to_row_space(train, test)
    assert small_train.shape == (24, 24) and small_test.shape == (40, 24)
    assert np.allclose(small_test @ small_train.T, test @ train.T)  # inner products with the rows are kept
    z_train, z_test = standardize(train, test)
    full = LogisticRegression(C=1.0, max_iter=20000, tol=1e-10).fit(z_train, labels)
    assert fit_predict(train, labels, test, ProbeConfig(row_space=True)).tolist() == full.predict(z_test).tolist()

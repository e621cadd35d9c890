"""Linear probe scoring: out-of-fold predictions, train -> test fits, word-level accuracies."""
import numpy as np
import pytest

from openeyes.eval_mllm.encoder.scoring.linear_probe import (
    ProbeConfig, cross_validated_predictions, fit_predict, standardize, word_accuracies,
)


def _blobs(n_per_class=12, classes=4, dim=6, spread=0.1, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    labels = np.repeat(np.arange(classes), n_per_class)
    return centres[labels] + spread * rng.normal(size=(len(labels), dim)), labels


def test_separable_classes_are_recovered_out_of_fold():
    features, labels = _blobs()
    predictions = cross_validated_predictions(features, labels, ProbeConfig(folds=4))
    assert (predictions == labels).all()


def test_uninformative_features_score_near_chance():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 50)
    predictions = cross_validated_predictions(rng.normal(size=(200, 8)), labels, ProbeConfig())
    assert 0.1 < (predictions == labels).mean() < 0.45


def test_singleton_class_counts_as_wrong_and_too_little_data_is_refused():
    features, labels = _blobs(n_per_class=6, classes=3)
    features = np.vstack([features, features[:1] + 50.0])
    labels = np.append(labels, 3)  # a class seen once: no fold can train on it
    predictions = cross_validated_predictions(features, labels, ProbeConfig(folds=3))
    assert predictions[-1] != 3
    with pytest.raises(ValueError, match="2 classes"):
        cross_validated_predictions(features[:2], np.array([0, 1]), ProbeConfig())


def test_fit_predict_standardizes_with_training_statistics_only():
    train_x, train_y = _blobs(seed=2)
    test_x = train_x[:5] * 1.0
    assert (fit_predict(train_x, train_y, test_x, ProbeConfig()) == train_y[:5]).all()
    z_train, z_test = standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    assert z_train.ravel().tolist() == pytest.approx([-1.0, 1.0], rel=1e-5)
    assert z_test.item() == pytest.approx(3.0, rel=1e-5)


def test_word_accuracies_split_head_and_modifier():
    names = ["red circle", "blue circle", "red square", "dark red square"]
    labels = np.array([0, 1, 2, 3])
    predictions = np.array([1, 1, 0, 2])  # colour wrong/right/right/wrong, shape right/right/wrong/right
    assert word_accuracies(predictions, labels, names) == {"head_acc": 0.75, "modifier_acc": 0.5}
    assert word_accuracies(predictions, labels, ["cat", "dog", "a b", "c d"]) == {}


def test_patch_probe_refuses_an_encoder_without_patches():
    from openeyes.errors import UserError
    from openeyes.eval_mllm.encoder.embed import embed_image_patches

    class ConvEncoder:  # an open_clip ResNet reports patch_size 0
        image_size, patch_size = 64, 0

    with pytest.raises(UserError, match="ViT"):
        embed_image_patches(ConvEncoder(), images=None, batch_size=4, layer=-1)

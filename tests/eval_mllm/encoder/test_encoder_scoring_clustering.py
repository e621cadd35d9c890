"""Clustering: KMeans protocol, NMI/ARI/AMI, Hungarian ACC (rectangular)."""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from openeyes.eval_mllm.encoder.scoring.clustering import (
    ClusteringConfig, cluster_and_score, clustering_metrics, contingency, hungarian_match, prepare_embeddings,
)


def test_hungarian_square_permutation_is_perfect():
    accuracy, mapping = hungarian_match([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])
    assert accuracy == 1.0 and mapping == {2: 0, 0: 1, 1: 2}


def test_hungarian_more_clusters_than_classes_unmatched_count_wrong():
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 2, 2, 2]
    table, _, _ = contingency(y_true, y_pred)
    assert table.tolist() == [[2, 0], [1, 0], [0, 3]]
    accuracy, mapping = hungarian_match(y_true, y_pred)
    assert accuracy == pytest.approx(5 / 6)
    assert mapping == {0: 0, 2: 1}  # cluster 1 stays unmatched


def test_hungarian_fewer_clusters_than_classes():
    accuracy, _ = hungarian_match([0, 1, 2, 2], [0, 0, 1, 1])
    assert accuracy == pytest.approx(3 / 4)


def test_metrics_match_sklearn_and_nmi_is_arithmetic():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 60), rng.integers(0, 5, 60)
    metrics = clustering_metrics(y_true, y_pred)
    assert metrics["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic"))
    assert metrics["nmi"] != pytest.approx(normalized_mutual_info_score(y_true, y_pred, average_method="geometric"))
    assert metrics["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))


def test_prepare_normalises_then_reduces():
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
    assert np.allclose(np.linalg.norm(prepare_embeddings(x, ClusteringConfig()), axis=1), 1.0)
    assert prepare_embeddings(x, ClusteringConfig(pca_dim=2)).shape == (3, 2)
    z = prepare_embeddings(x, ClusteringConfig(zscore=True))
    assert np.allclose(z.mean(axis=0), 0.0) and np.allclose(z.std(axis=0), 1.0)


def test_separated_blobs_cluster_perfectly_and_deterministically():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 5
    labels = np.repeat(np.arange(4), 10)
    x = centres[labels] + 0.05 * rng.standard_normal((40, 4)) + 1.0
    clusters, metrics = cluster_and_score(x, labels, ClusteringConfig(seed=3))
    assert metrics["acc"] == 1.0 and metrics["nmi"] == pytest.approx(1.0) and metrics["ari"] == pytest.approx(1.0)
    again, _ = cluster_and_score(x, labels, ClusteringConfig(seed=3))
    assert (clusters == again).all()

"""Zero-shot clustering of frozen embeddings (representation discriminability).

Protocol (scottclowe/zs-ssl-clustering ``cluster.py``): L2-normalised embeddings, optionally
z-scored and/or PCA-reduced, clustered by ``KMeans(n_clusters=#labels, init="k-means++",
n_init=1, random_state=seed)``. Metrics (SCAN ``utils/evaluate_utils.py``): NMI (sklearn's
default ``average_method="arithmetic"``), ARI, AMI (ZSC's primary metric) and Hungarian ACC.
SCAN's ACC asserts #clusters == #classes; here a rectangular contingency table is matched and
samples in unmatched clusters count as wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ClusteringConfig:
    """How embeddings are prepared and clustered."""

    seed: int = 0                 # KMeans (and PCA) random_state
    zscore: bool = False          # standardise each dimension after L2 normalisation
    pca_dim: int | None = None    # keep this many principal components (None: no PCA)
    n_clusters: int | None = None  # None: the number of distinct labels (the protocol)


def prepare_embeddings(embeddings: np.ndarray, config: ClusteringConfig) -> np.ndarray:
    """[N, D] -> [N, D'] : L2-normalise, then optional z-score, then optional PCA."""
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    if config.zscore:
        from sklearn.preprocessing import StandardScaler

        x = StandardScaler().fit_transform(x)
    if config.pca_dim is not None:
        from sklearn.decomposition import PCA

        x = PCA(n_components=min(config.pca_dim, *x.shape), random_state=config.seed).fit_transform(x)
    return x


def kmeans_clusters(embeddings: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster ids [N] from the protocol's KMeans."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=n_clusters, init="k-means++", n_init=1, random_state=seed)
    return model.fit_predict(embeddings)


def contingency(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C[p, t] = #{i: pred_i = p, true_i = t} over the distinct values, with those values."""
    clusters, pred_index = np.unique(np.asarray(y_pred), return_inverse=True)
    classes, true_index = np.unique(np.asarray(y_true), return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (pred_index, true_index), 1)
    return table, clusters, classes


def hungarian_match(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[float, dict[int, int]]:
    """Hungarian ACC and the cluster -> class mapping (rectangular when the counts differ)."""
    from scipy.optimize import linear_sum_assignment

    table, clusters, classes = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    accuracy = float(table[rows, cols].sum()) / max(len(np.asarray(y_true)), 1)
    mapping = {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols)}
    return accuracy, mapping


def clustering_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """NMI (arithmetic), AMI, ARI and Hungarian ACC."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    accuracy, _ = hungarian_match(y_true, y_pred)
    return {
        "nmi": float(normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic")),
        "ami": float(adjusted_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
        "acc": accuracy,
    }


def cluster_and_score(embeddings: np.ndarray, labels: Sequence[int], config: ClusteringConfig) -> tuple[np.ndarray, dict[str, float]]:
    """Run the whole protocol: prepare, KMeans with #labels clusters, score. Returns (clusters, metrics)."""
    labels = np.asarray(labels)
    n_clusters = config.n_clusters or len(np.unique(labels))
    clusters = kmeans_clusters(prepare_embeddings(embeddings, config), n_clusters, config.seed)
    return clusters, clustering_metrics(labels, clusters)

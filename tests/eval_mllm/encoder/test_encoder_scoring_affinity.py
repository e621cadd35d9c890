"""SaCo affinity consistency (Eq. 4), on a hand-computed example and a loop transcription."""
import math

import numpy as np
import pytest
import torch

from openeyes.eval_mllm.encoder.scoring.affinity import affinity_consistency

# Images: orthonormal, so S^I = identity. Texts chosen so that S^T = [[1,.5,0],[.5,1,.5],[0,.5,1]].
IMAGES = torch.eye(3, dtype=torch.float64)
TEXTS = torch.tensor([
    [1.0, 0.0, 0.0],
    [0.5, math.sqrt(0.75), 0.0],
    [0.0, 0.5 / math.sqrt(0.75), math.sqrt(1 - 0.25 / 0.75)],
], dtype=torch.float64)


def test_hand_computed_with_self_included():
    # row 1: U=(1,0,0), V=(1,.5,0): du=(2/3,-1/3,-1/3), dv=(.5,0,-.5) -> .5 / sqrt(2/3 * .5) = sqrt(3)/2
    # row 2: V - mean(V) = (U - mean(U)) / 2 -> 1;  row 3 mirrors row 1
    value, rho, undefined = affinity_consistency(IMAGES, TEXTS, exclude_self=False)
    assert rho.tolist() == pytest.approx([math.sqrt(3) / 2, 1.0, math.sqrt(3) / 2], abs=1e-9)
    assert value == pytest.approx((math.sqrt(3) + 1) / 3, abs=1e-9)
    assert undefined == 0


def test_constant_rows_are_undefined_when_self_is_excluded():
    # without the diagonal, every image row of an orthonormal set is constant (all zeros)
    value, rho, undefined = affinity_consistency(IMAGES, TEXTS, exclude_self=True)
    assert undefined == 3 and math.isnan(value) and torch.isnan(rho).all()


def loop_transcription(images, texts, exclude_self):
    """Eq. 2-4 literally: per query, Pearson of its image and text similarity lists."""
    images = images / np.linalg.norm(images, axis=1, keepdims=True)
    texts = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    n = len(images)
    rhos = []
    for i in range(n):
        others = [j for j in range(n) if not (exclude_self and j == i)]
        u = [float(images[i] @ images[j]) for j in others]
        v = [float(texts[i] @ texts[j]) for j in others]
        rhos.append(np.corrcoef(u, v)[0, 1])
    return float(np.mean(rhos))


@pytest.mark.parametrize("exclude_self", [True, False])
def test_matches_loop_transcription(exclude_self):
    rng = np.random.default_rng(0)
    images, texts = rng.standard_normal((23, 6)), rng.standard_normal((23, 6))
    value, _, undefined = affinity_consistency(torch.tensor(images), torch.tensor(texts), exclude_self, chunk=5)
    assert undefined == 0
    assert value == pytest.approx(loop_transcription(images, texts, exclude_self), abs=1e-10)


def test_identical_modalities_are_perfectly_consistent():
    x = torch.randn(10, 4)
    value, _, _ = affinity_consistency(x, 2 * x)
    assert value == pytest.approx(1.0)


def test_needs_pairs():
    with pytest.raises(ValueError, match="pairs"):
        affinity_consistency(torch.randn(4, 3), torch.randn(5, 3))

"""Spectral regularizer: Eq. 14 against a literal transcription (value and gradients), head, hook."""
import pytest
import torch

from openeyes.training.objectives.spectral import (
    HiddenStateTap, SpectralConfig, SpectralHead, SpectralRegularizer, l2_batch_norm, spectral_loss,
)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def literal_eq14(psi, psi_prime, alpha):
    """psi(X_B) as the K x B matrix of the paper; R = psi psi'^T / B (Eq. 10); loops over i < j."""
    Psi, Psi_p = psi.T, psi_prime.T  # [K, B]
    K, B = Psi.shape
    trace = sum(sum(Psi[j, b] * Psi_p[j, b] for b in range(B)) for j in range(K)) / B
    penalty = 0.0
    for j in range(K):
        for i in range(j):
            r_ij = sum(Psi[i, b].detach() * Psi_p[j, b] for b in range(B)) / B  # (sg(psi) psi'^T)_{i,j}
            penalty = penalty + r_ij ** 2
    return -trace + alpha * penalty


def test_eq14_value_and_gradients_match_the_literal_transcription():
    torch.manual_seed(0)
    base = torch.randn(6, 5)
    a = (base + 0.3 * torch.randn(6, 5)).requires_grad_(True)
    b = (base + 0.3 * torch.randn(6, 5)).requires_grad_(True)
    fast = spectral_loss(a, b, alpha=0.7)
    slow = literal_eq14(a, b, alpha=0.7)
    assert torch.allclose(fast, slow, atol=1e-6)
    fast_grads = torch.autograd.grad(fast, [a, b])
    slow_grads = torch.autograd.grad(slow, [a, b])
    for x, y in zip(fast_grads, slow_grads):
        assert torch.allclose(x, y, atol=1e-6)
    # the stop-gradient: the orthogonality term sends no gradient to psi (only -Tr does)
    trace_only = torch.autograd.grad(-torch.einsum("bk,bk->", a, b) / 6, a)[0]
    assert torch.allclose(fast_grads[0], trace_only, atol=1e-6)


def test_head_is_time_conditioned_and_l2_batch_normalised():
    torch.manual_seed(0)
    head = SpectralHead(in_channels=12, hidden=32, num_eigenfunctions=8, normalize_rows=False)
    torch.nn.init.normal_(head.modulation[-1].weight, std=0.5)  # switch the adaLN-zero start on
    hidden = torch.randn(16, 12, 4, 4)
    psi = head(hidden, torch.full((16,), 100))
    assert psi.shape == (16, 8)
    assert torch.allclose(psi.pow(2).mean(0), torch.ones(8), atol=1e-3)  # L2-BN: unit mean square per column
    assert not torch.allclose(psi, head(hidden, torch.full((16,), 900)), atol=1e-3)
    rows = SpectralHead(12, 32, 8, normalize_rows=True)(hidden, torch.zeros(16))
    assert torch.allclose(rows.norm(dim=1), torch.ones(16), atol=1e-5)
    assert torch.allclose(l2_batch_norm(torch.full((4, 2), 3.0)), torch.ones(4, 2), atol=1e-5)


def test_regularizer_reads_a_hooked_unet_layer_and_optimising_it_aligns_views():
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1))
    config = SpectralConfig(enabled=True, num_eigenfunctions=4, hidden=16, layer="2")
    channels = SpectralRegularizer.channels_of(trunk, "2", lambda: trunk(torch.zeros(1, 3, 8, 8)))
    assert channels == 8
    regularizer = SpectralRegularizer(config, channels)
    optimizer = torch.optim.Adam([*trunk.parameters(), *regularizer.parameters()], lr=1e-2)
    clean = torch.randn(32, 3, 8, 8)
    losses = []
    for _ in range(30):
        views = torch.cat([clean + 0.3 * torch.randn_like(clean), clean + 0.3 * torch.randn_like(clean)])
        tap = HiddenStateTap(trunk.get_submodule("2"))
        trunk(views)
        tap.remove()
        loss = regularizer.loss(tap.value, torch.full((32,), 500))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1

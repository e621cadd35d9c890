"""nCLIP / xCLIP: Eqs. 2-5 against a literal loop transcription; heads, global BatchNorm, objectives."""
import math

import pytest
import torch

from openeyes.training.objectives import Composite, NclipConfig, NclipObjective, XclipConfig, XclipObjective, weighted_entry
from openeyes.training.objectives.clip import clip_loss
from openeyes.training.objectives.nclip import GlobalBatchNorm1d, NclipHead, nclip_loss, nclip_loss_terms

# --- literal transcription of the paper -------------------------------------------------------


def softmax_loop(row, temperature=1.0):
    """p_k = exp(g_k / t) / sum_k' exp(g_k' / t)."""
    k = row.shape[0]
    exps = [torch.exp(row[c] / temperature) for c in range(k)]
    z = sum(exps)
    return [e / z for e in exps]


def nclip_loop(g, h, lambda1, lambda2, temperature=1.0):
    """Eq. 2-4, symmetrized and averaged as in Algorithm 1."""
    b, k = g.shape
    p = [softmax_loop(g[i], temperature) for i in range(b)]  # image distributions
    q = [softmax_loop(h[i], temperature) for i in range(b)]  # text distributions
    ce = 0.0  # Eq. 2: -p^T log q, both directions, batch mean
    eh = 0.0  # Eq. 3: -p^T log p, both modalities, batch mean
    for i in range(b):
        for c in range(k):
            ce = ce - p[i][c] * torch.log(q[i][c]) - q[i][c] * torch.log(p[i][c])
            eh = eh - p[i][c] * torch.log(p[i][c]) - q[i][c] * torch.log(q[i][c])
    ce, eh = ce / b, eh / b
    he = 0.0  # Eq. 3: -p_bar^T log p_bar, both modalities
    for c in range(k):
        p_bar = sum(p[i][c] for i in range(b)) / b
        q_bar = sum(q[i][c] for i in range(b)) / b
        he = he - p_bar * torch.log(p_bar) - q_bar * torch.log(q_bar)
    return (ce + lambda1 * eh - lambda2 * he) / 2, ce, eh, he  # Eq. 4


def logits(b, k, seed, duplicate=True, dtype=torch.float64, scale=2.0):
    generator = torch.Generator().manual_seed(seed)
    g = scale * torch.randn(b, k, generator=generator, dtype=dtype)
    h = scale * torch.randn(b, k, generator=generator, dtype=dtype)
    if duplicate and b > 2:
        h[2] = h[0]  # duplicate captions
    return g.requires_grad_(), h.requires_grad_()


@pytest.mark.parametrize("b", [1, 2, 5])
@pytest.mark.parametrize("lambdas,temperature", [((0.5, 1.5), 1.0), ((0.2, 1.2), 0.5), ((0.0, 0.0), 1.0)])
def test_nclip_loss_matches_the_loop(b, lambdas, temperature):
    g, h = logits(b, 7, seed=b)
    loop, ce, eh, he = nclip_loop(g, h, *lambdas, temperature)
    parts = nclip_loss_terms(g, h, *lambdas, temperature)
    for name, value in (("loss", loop), ("ce", ce), ("eh", eh), ("he", he)):
        assert parts[name].detach().item() == pytest.approx(float(value.detach()), abs=1e-5), name
    for g_fast, g_loop in zip(torch.autograd.grad(parts["loss"], (g, h)), torch.autograd.grad(loop, (g, h))):
        torch.testing.assert_close(g_fast, g_loop, atol=1e-5, rtol=0)


def test_entropy_signs():
    # Sharp, diverse assignments are rewarded; a collapse to one constant distribution is not.
    k = 8
    sharp = 20.0 * torch.eye(k)  # each sample picks its own cluster
    collapsed = torch.zeros(k, k)  # uniform for everyone
    sharp_parts, flat_parts = nclip_loss_terms(sharp, sharp), nclip_loss_terms(collapsed, collapsed)
    assert sharp_parts["eh"].item() == pytest.approx(0.0, abs=1e-4)  # L_EH ~ 0 when sharp
    assert flat_parts["eh"].item() == pytest.approx(2 * math.log(k), rel=1e-6)
    assert sharp_parts["he"].item() == pytest.approx(2 * math.log(k), rel=1e-4)  # mean is uniform: max entropy
    assert sharp_parts["loss"].item() < flat_parts["loss"].item()
    assert nclip_loss(sharp, sharp).item() == pytest.approx(-0.75 * 2 * math.log(k), rel=1e-3)


def test_nclip_loss_in_bf16_stays_near_fp32():
    g, h = logits(16, 64, seed=3, dtype=torch.float32)
    reference = nclip_loss(g, h)
    low = nclip_loss(g.bfloat16(), h.bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(reference.item(), rel=2e-2, abs=2e-2)
    g_ref = torch.autograd.grad(reference, g)[0]
    g_low = torch.autograd.grad(nclip_loss(g.bfloat16(), h.bfloat16()), g)[0]
    assert torch.nn.functional.cosine_similarity(g_ref.flatten(), g_low.float().flatten(), dim=0) > 0.99


def test_global_batchnorm_equals_batchnorm_on_one_process():
    torch.manual_seed(0)
    x = torch.randn(10, 6, requires_grad=True)
    ours, theirs = GlobalBatchNorm1d(6), torch.nn.BatchNorm1d(6)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2), ours.bias.normal_()
        theirs.load_state_dict(ours.state_dict())
    out_ours, out_theirs = ours(x), theirs(x)
    torch.testing.assert_close(out_ours, out_theirs, atol=1e-5, rtol=1e-5)
    w = torch.randn(10, 6)
    torch.testing.assert_close(torch.autograd.grad((out_ours * w).sum(), x)[0],
                               torch.autograd.grad((out_theirs * w).sum(), x)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_head_shape_and_last_batchnorm_has_no_affine():
    head = NclipHead(16, 32, 100)
    assert head(torch.randn(5, 16)).shape == (5, 100)
    assert head[-1].weight is None and head[1].weight is not None


# --- the objectives ----------------------------------------------------------------------------

SMALL = NclipConfig(output_dim=64, hidden_dim=32)


def test_nclip_objective_scores_the_encoder_embeddings(tiny_encoder, batch):
    objective = NclipObjective(SMALL, tiny_encoder)
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    images = tiny_encoder.encode_image(tiny_encoder.normalize(batch["images"]))
    texts = tiny_encoder.encode_text(tiny_encoder.tokenize(batch["texts"]))
    expected = nclip_loss(objective.image_head(images), objective.text_head(texts))
    assert terms["nclip"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(terms) == {"nclip", "_nclip_ce", "_nclip_eh", "_nclip_he", "loss"}


def test_xclip_returns_both_terms_with_paper_weights(tiny_encoder, batch):
    objective = XclipObjective(XclipConfig(nclip=SMALL), tiny_encoder)
    assert objective.term_weights() == {"clip": 0.2, "nclip": 1.0}
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    images = tiny_encoder.encode_image(tiny_encoder.normalize(batch["images"]))
    texts = tiny_encoder.encode_text(tiny_encoder.tokenize(batch["texts"]))
    assert terms["clip"].item() == pytest.approx(clip_loss(images, texts, tiny_encoder.logit_scale).item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(0.2 * terms["clip"].item() + terms["nclip"].item(), rel=1e-5)
    with torch.no_grad():
        tiny_encoder.logit_scale.fill_(10.0)
    objective.on_step_end(tiny_encoder)
    assert tiny_encoder.logit_scale.item() == pytest.approx(math.log(100.0))


def test_xclip_under_bf16_autocast(tiny_encoder, batch):
    objective = XclipObjective(XclipConfig(nclip=SMALL), tiny_encoder)
    reference = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    assert torch.isfinite(terms["loss"])
    assert terms["nclip"].item() == pytest.approx(reference["nclip"].item(), rel=5e-2, abs=5e-2)
    terms["loss"].backward()
    assert objective.nclip.image_head[0].weight.grad is not None

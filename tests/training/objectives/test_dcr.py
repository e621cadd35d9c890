"""DCR (Algorithm 1): the vectorized, chunked loss against a literal per-anchor transcription."""
import math

import pytest
import torch
import torch.nn.functional as F

from openeyes.training.objectives.dcr import (
    DcrConditioner, DcrConfig, DcrInputs, DcrObjective, binding_diagnostics, binding_range, contrastive_terms, dcr_loss,
    encoder_features, load_projector, negative_indices, save_projector,
)
from openeyes.training.prior.model import PriorModelConfig, build_prior

PRIOR = dict(image_size=16, block_out_channels=[8, 16], attention_head_dim=4, text_width=16, text_layers=1, text_heads=2)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def make_prior(tokenizer, **overrides):
    return build_prior(PriorModelConfig(**{**PRIOR, **overrides}), tokenizer, seed=0).requires_grad_(False).eval()


def literal_algorithm_1(prior, conditioner, encoder, images, views, x0, noise, t, negatives, tau):
    """Lines 4-20, one anchor at a time, every feature and condition recomputed where the algorithm says."""
    empty = prior.empty_condition()
    f = lambda pixels: encoder.encode_image(encoder.normalize(pixels))  # noqa: E731
    h = lambda z: conditioner(z, None, empty)  # noqa: E731
    losses = []
    for i in range(images.shape[0]):
        t_i = t[i:i + 1]
        x_t = prior.schedule.add_noise(x0[i:i + 1], noise[i:i + 1], t_i)  # line 7
        eps_hat = prior.predict(x_t, t_i, h(f(images[i:i + 1])))  # line 8
        eps_plus = prior.predict(x_t, t_i, h(f(views[i:i + 1])))  # lines 9-10
        negatives_i = [prior.predict(x_t, t_i, h(f(images[j:j + 1]))) for j in negatives[i].tolist()]  # lines 12-15
        positives_i = [eps_plus, prior.schedule.target(x0[i:i + 1], noise[i:i + 1], t_i)]  # line 16
        candidates = positives_i + negatives_i  # line 17
        sim = lambda u, v: F.cosine_similarity(u.flatten(), v.flatten(), dim=0)  # noqa: E731
        denominator = sum(math.e ** (sim(eps_hat, c) / tau) for c in candidates)
        losses.append(-0.5 * sum(torch.log(math.e ** (sim(eps_hat, p) / tau) / denominator) for p in positives_i))  # line 18
    return sum(losses) / len(losses)  # line 20


def _setup(caption_tokenizer, make_encoder, batch_size=4, seed=0, **prior_overrides):
    prior = make_prior(caption_tokenizer, **prior_overrides)
    encoder = make_encoder(seed=1)
    torch.manual_seed(seed)
    conditioner = DcrConditioner(encoder.embed_dim, encoder.vision_width, prior.condition_width)
    images = torch.rand(batch_size, 3, 32, 32)
    views = images.flip(-1) * 0.9
    x0 = prior.to_model_space(images)
    noise = torch.randn_like(x0)
    t = prior.schedule.sample_times(batch_size)
    return prior, encoder, conditioner, images, views, x0, noise, t


def _grads(loss, modules):
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    return torch.autograd.grad(loss, params)


@pytest.mark.parametrize("schedule,prediction", [("ddpm", "epsilon"), ("ddpm", "v_prediction"), ("flow", "epsilon")])
@pytest.mark.parametrize("chunk_size", [0, 7])
def test_vectorized_loss_and_gradients_equal_the_literal_algorithm(caption_tokenizer, make_encoder, schedule,
                                                                   prediction, chunk_size):
    prior, encoder, conditioner, images, views, x0, noise, t = _setup(
        caption_tokenizer, make_encoder, schedule=schedule, prediction_type=prediction)
    negatives = negative_indices(4)
    literal = literal_algorithm_1(prior, conditioner, encoder, images, views, x0, noise, t, negatives, 0.1)
    vision = [conditioner, encoder.model.vision_model, encoder.model.visual_projection]
    literal_grads = _grads(literal, vision)

    z, z_aug, _, _ = encoder_features(encoder, images, views, 0.0, -2, None)
    inputs = DcrInputs(x0, noise, t, negatives, z, z_aug)
    vectorized, _ = dcr_loss(prior, conditioner, inputs, tau=0.1, chunk_size=chunk_size)
    vectorized_grads = _grads(vectorized, vision)

    assert abs(vectorized.item() - literal.item()) < 1e-5
    assert len(literal_grads) == len(vectorized_grads) > 10
    for a, b in zip(literal_grads, vectorized_grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in vectorized_grads)


def test_sampled_negatives_match_the_literal_algorithm(caption_tokenizer, make_encoder):
    prior, encoder, conditioner, images, views, x0, noise, t = _setup(caption_tokenizer, make_encoder, batch_size=5)
    negatives = negative_indices(5, 2, torch.Generator().manual_seed(3))
    assert negatives.shape == (5, 2) and all(i not in row for i, row in enumerate(negatives.tolist()))
    with torch.no_grad():
        literal = literal_algorithm_1(prior, conditioner, encoder, images, views, x0, noise, t, negatives, 0.1)
        z, z_aug, _, _ = encoder_features(encoder, images, views, 0.0, -2, None)
        vectorized, _ = dcr_loss(prior, conditioner, DcrInputs(x0, noise, t, negatives, z, z_aug), 0.1, chunk_size=3)
    assert abs(vectorized.item() - literal.item()) < 1e-5


def test_logsumexp_is_stable_where_raw_exp_overflows():
    anchor = torch.randn(3, 10)
    positives = torch.stack([anchor, -anchor], dim=1)  # cos = 1 and -1
    negatives = torch.randn(3, 4, 10)
    loss = contrastive_terms(anchor, positives, negatives, tau=1e-3)  # logits up to 1000: exp overflows float32
    assert torch.isfinite(loss).all()
    assert torch.exp(torch.tensor(1000.0)).isinf()
    # -1/2 (1000 - 1000) + logsumexp ~= 1000 (the anchor-equal positive dominates)
    assert torch.allclose(loss, torch.full((3,), 1000.0), atol=1e-2)


def test_target_follows_the_prediction_type(caption_tokenizer):
    x0, noise = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    epsilon = make_prior(caption_tokenizer).schedule
    velocity = make_prior(caption_tokenizer, prediction_type="v_prediction").schedule
    flow = make_prior(caption_tokenizer, schedule="flow").schedule
    t = torch.tensor([10, 900])
    assert torch.equal(epsilon.target(x0, noise, t), noise)
    alpha = velocity.scheduler.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(velocity.target(x0, noise, t), alpha.sqrt() * noise - (1 - alpha).sqrt() * x0, atol=1e-6)
    s = torch.tensor([0.25, 0.75])
    assert torch.allclose(flow.add_noise(x0, noise, s), (1 - s.view(-1, 1, 1, 1)) * x0 + s.view(-1, 1, 1, 1) * noise)
    assert torch.equal(flow.target(x0, noise, s), noise - x0)


def test_objective_stages_local_tokens_and_projector_roundtrip(caption_tokenizer, make_encoder, make_batch, tmp_path):
    prior = make_prior(caption_tokenizer)
    encoder = make_encoder(seed=0)
    config = DcrConfig(prior="unused", stage=1, local_ratio=0.5, chunk_size=8, num_negatives=2)
    objective = DcrObjective(config, encoder, prior=prior)
    assert not any(name.startswith("_prior") or "unet" in name for name, _ in objective.named_parameters())
    batch = make_batch(size=4)
    inputs = objective.draw_inputs(encoder, batch)
    assert inputs.local.shape == (4, 8, encoder.vision_width)  # 50 % of 16 patches
    assert not inputs.features.requires_grad  # stage 1: encoder frozen
    terms = objective(encoder, batch, None)
    terms["dcr"].backward()
    assert objective.conditioner.local_projector.net[1].weight.grad is not None
    assert all(p.grad is None for p in encoder.parameters())

    save_projector(objective.conditioner, tmp_path / "projector", objective.projector_info())
    loaded, info = load_projector(tmp_path / "projector")
    for (name, a), (_, b) in zip(objective.conditioner.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    stage2 = DcrObjective(DcrConfig(prior="unused", stage=2, projector=str(tmp_path / "projector"), local_ratio=0.5),
                          encoder, prior=prior)
    assert not any(p.requires_grad for p in stage2.parameters())
    stage2(encoder, batch, None)["dcr"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.model.vision_model.parameters())


def test_binding_diagnostics_equal_a_loop_over_anchors_and_see_a_condition_that_separates():
    generator = torch.Generator().manual_seed(0)
    anchor, positives, negatives = (torch.randn(5, 12, generator=generator), torch.randn(5, 2, 12, generator=generator),
                                    torch.randn(5, 3, 12, generator=generator))
    got = binding_diagnostics(anchor, positives, negatives)
    cos = lambda a, b: float(a @ b / (a.norm() * b.norm()))  # noqa: E731
    pos = [cos(anchor[i], positives[i, 0]) for i in range(5)]
    negs = [[cos(anchor[i], negatives[i, k]) for k in range(3)] for i in range(5)]
    assert got["_dcr_cos_pos"].item() == pytest.approx(sum(pos) / 5, abs=1e-6)
    assert got["_dcr_cos_target"].item() == pytest.approx(sum(cos(anchor[i], positives[i, 1]) for i in range(5)) / 5, abs=1e-6)
    assert got["_dcr_cos_neg"].item() == pytest.approx(sum(map(sum, negs)) / 15, abs=1e-6)
    assert got["_dcr_pos_beats_negs"].item() == pytest.approx(sum(p > max(n) for p, n in zip(pos, negs)) / 5)
    own = sum(float((anchor[i] - positives[i, 1]).pow(2).sum()) for i in range(5)) / (5 * 12)
    other = sum(float((negatives[i, k] - positives[i, 1]).pow(2).sum()) for i in range(5) for k in range(3)) / (15 * 12)
    assert got["_dcr_feature_gain"].item() == pytest.approx(other / own, rel=1e-5)
    # a condition that separates: the augmented view predicts the anchor, negatives point elsewhere
    bound = binding_diagnostics(anchor, torch.stack([anchor, anchor], dim=1), -anchor[:, None].expand(5, 3, 12))
    assert bound["_dcr_pos_beats_negs"].item() == 1.0 and bound["_dcr_cos_neg"].item() == pytest.approx(-1.0)
    assert bound["_dcr_feature_gain"].item() > 1e6  # the anchor is the target; the negatives are not


def test_binding_range_places_the_loss_between_chance_and_perfect_separation():
    generator = torch.Generator().manual_seed(1)
    anchor = torch.randn(4, 10, generator=generator)
    view = anchor + 0.1 * torch.randn(4, 10, generator=generator)
    positives = torch.stack([view, anchor + 0.5 * torch.randn(4, 10, generator=generator)], dim=1)  # [4, 2, 10]
    tau, k = 0.2, 3
    cos = lambda a, b: float(a @ b / (a.norm() * b.norm()))  # noqa: E731

    def line18(i, negative_logits):  # the paper's line 18 for anchor i, written out
        s_pos, s_gt = cos(anchor[i], positives[i, 0]) / tau, cos(anchor[i], positives[i, 1]) / tau
        return -0.5 * (s_pos + s_gt) + math.log(math.exp(s_pos) + math.exp(s_gt) + sum(math.exp(v) for v in negative_logits))

    chance = sum(line18(i, [cos(anchor[i], positives[i, 0]) / tau] * k) for i in range(4)) / 4
    bound = sum(line18(i, []) for i in range(4)) / 4
    for negatives, expected in ((view[:, None].expand(4, k, 10), 0.0), (-anchor[:, None].expand(4, k, 10), None)):
        loss = sum(line18(i, [cos(anchor[i], negatives[i, j]) / tau for j in range(k)]) for i in range(4)) / 4
        got = binding_range(anchor, positives, negatives, tau, contrastive_terms(anchor, positives, negatives, tau).mean())
        assert got["_dcr_loss_chance"].item() == pytest.approx(chance, rel=1e-5)
        assert got["_dcr_loss_bound"].item() == pytest.approx(bound, rel=1e-5)
        assert got["_dcr_binding"].item() == pytest.approx((chance - loss) / (chance - bound), abs=1e-5)
        if expected is not None:  # negatives that score like the view: no binding at all
            assert got["_dcr_binding"].item() == pytest.approx(expected, abs=1e-5)
        else:  # opposite negatives at tau 0.2 (10 logits below): almost the perfect separation
            assert got["_dcr_binding"].item() > 0.99

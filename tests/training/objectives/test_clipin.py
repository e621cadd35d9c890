"""CLIPin: Eqs. 5, 7, 11, 12 against literal loops; EMA target, learnable weights, resume state."""
import math

import pytest
import torch

from openeyes.errors import UserError
from openeyes.training.objectives import (
    ClipinConfig,
    ClipinObjective,
    Composite,
    ImageAugmentConfig,
    TextAugmentConfig,
    weighted_entry,
)
from openeyes.training.objectives.clipin import (
    clipin_total,
    contrastive_loss,
    ema_update,
    frozen_copy,
    inter_modal_loss,
    intra_modal_loss,
)

# --- literal transcriptions of the paper --------------------------------------------------------


def norm(x):  # Norm(.) = . / ||.||_2
    return x / torch.sqrt(sum(x[k] * x[k] for k in range(x.shape[0])))


def dot(a, b):
    return sum(a[k] * b[k] for k in range(a.shape[0]))


def inter_loop(u, v, u_tgt, v_tgt):
    """Eq. 5 per sample, averaged over the batch: -Norm(u).Norm(v_tgt) - Norm(v).Norm(u_tgt)."""
    b = u.shape[0]
    total = 0.0
    for i in range(b):
        i2t = -dot(norm(u[i]), norm(v_tgt[i].detach()))
        t2i = -dot(norm(v[i]), norm(u_tgt[i].detach()))
        total = total + i2t + t2i
    return total / b


def intra_loop(u_intra, v_intra, u_tgt, v_tgt):
    """Eq. 7 per sample, averaged over the batch."""
    b = u_intra.shape[0]
    total = 0.0
    for i in range(b):
        total = total - dot(norm(u_intra[i]), norm(u_tgt[i].detach())) - dot(norm(v_intra[i]), norm(v_tgt[i].detach()))
    return total / b


def contrastive_loop(u, v, tau):
    """Eq. 11: L_CL,I2T + L_CL,T2I."""
    b = u.shape[0]
    U = [norm(u[i]) for i in range(b)]
    V = [norm(v[i]) for i in range(b)]
    i2t, t2i = 0.0, 0.0
    for i in range(b):
        i2t = i2t - torch.log(torch.exp(dot(U[i], V[i]) / tau) / sum(torch.exp(dot(U[i], V[j]) / tau) for j in range(b)))
        t2i = t2i - torch.log(torch.exp(dot(V[i], U[i]) / tau) / sum(torch.exp(dot(V[i], U[j]) / tau) for j in range(b)))
    return i2t / b + t2i / b


def features(b, d, seed, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(b, d, generator=generator, dtype=dtype) for _ in range(6)]
    if b > 2:
        tensors[1][2] = tensors[1][0]  # duplicate captions: identical text rows
        tensors[3][2] = tensors[3][0]
        tensors[5][2] = tensors[5][0]
    return [t.requires_grad_() for t in tensors]


@pytest.mark.parametrize("b", [1, 2, 5])
def test_inter_and_intra_losses_match_the_loops(b):
    u, v, u_intra, v_intra, u_tgt, v_tgt = features(b, 6, seed=b)
    inputs = (u, v, u_intra, v_intra, u_tgt, v_tgt)
    for fast, loop in ((inter_modal_loss(u, v, u_tgt, v_tgt), inter_loop(u, v, u_tgt, v_tgt)),
                       (intra_modal_loss(u_intra, v_intra, u_tgt, v_tgt), intra_loop(u_intra, v_intra, u_tgt, v_tgt))):
        assert fast.detach().item() == pytest.approx(float(loop.detach()), abs=1e-5)
        g_fast = torch.autograd.grad(fast, inputs, allow_unused=True)
        g_loop = torch.autograd.grad(loop, inputs, allow_unused=True)
        for a, c in zip(g_fast, g_loop):
            assert (a is None) == (c is None)
            if a is not None:
                torch.testing.assert_close(a, c, atol=1e-5, rtol=0)
    assert torch.autograd.grad(inter_modal_loss(u, v, u_tgt, v_tgt), u_tgt, allow_unused=True)[0] is None  # stop-grad


@pytest.mark.parametrize("b", [1, 2, 5])
@pytest.mark.parametrize("tau", [0.07, 1.0])
def test_contrastive_loss_matches_the_loop(b, tau):
    u, v, *_ = features(b, 6, seed=10 + b)
    fast, loop = contrastive_loss(u, v, tau), contrastive_loop(u, v, tau)
    assert fast.detach().item() == pytest.approx(float(loop.detach()), abs=1e-5)
    for a, c in zip(torch.autograd.grad(fast, (u, v)), torch.autograd.grad(loop, (u, v))):
        torch.testing.assert_close(a, c, atol=1e-5, rtol=0)


def test_eq12_total():
    assert clipin_total(1.0, -2.0, -1.0, 0.5, 2.0) == pytest.approx(1.0 - 1.0 - 2.0)


def test_losses_in_bf16_stay_near_fp32():
    u, v, u_intra, v_intra, u_tgt, v_tgt = features(16, 32, seed=3, dtype=torch.float32)
    low = [t.bfloat16() for t in (u, v, u_intra, v_intra, u_tgt, v_tgt)]
    assert inter_modal_loss(*low[:2], *low[4:]).item() == pytest.approx(inter_modal_loss(u, v, u_tgt, v_tgt).item(), abs=2e-2)
    assert intra_modal_loss(*low[2:]).item() == pytest.approx(intra_modal_loss(u_intra, v_intra, u_tgt, v_tgt).item(), abs=2e-2)
    reference = contrastive_loss(u, v)
    assert contrastive_loss(low[0], low[1]).item() == pytest.approx(reference.item(), rel=3e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert contrastive_loss(u, v).item() == pytest.approx(reference.item(), rel=1e-5)


# --- branches and the objective ---------------------------------------------------------------

SMALL = dict(pre_dim=24, contrastive_dim=8, noncontrastive_dim=32, predictor_hidden_dim=12)


def build(encoder, **overrides):
    return ClipinObjective(ClipinConfig(**{**SMALL, **overrides}), encoder)


def test_frozen_copy_shares_the_tokenizer_and_copies_weights(tiny_encoder):
    copy = frozen_copy(tiny_encoder)
    assert copy.tokenizer is tiny_encoder.tokenizer and copy.model.config is tiny_encoder.model.config
    pairs = list(zip(copy.parameters(), tiny_encoder.parameters()))
    assert all(c.data_ptr() != o.data_ptr() and torch.equal(c, o) for c, o in pairs)
    assert not any(c.requires_grad for c, _ in pairs)
    pixels = tiny_encoder.normalize(torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(copy.encode_image(pixels), tiny_encoder.encode_image(pixels))


def test_ema_update_is_eq2():
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = target.weight.detach().clone()
    ema_update(target, online, 0.95)
    torch.testing.assert_close(target.weight, 0.95 * before + 0.05 * online.weight.detach())


def test_target_branch_is_frozen_saved_and_follows_eq2(tiny_encoder, batch):
    objective = build(tiny_encoder)
    trainable = {id(p) for p in objective.parameters() if p.requires_grad}
    for module in (objective.target_encoder, objective.target_image, objective.target_text):
        assert not any(id(p) in trainable for p in module.parameters())
    state = objective.state_dict()
    assert any(k.startswith("target_encoder.") for k in state) and "log_lambdas" in state and "step" in state

    target_before = objective.target_encoder.model.text_projection.weight.detach().clone()
    head_before = objective.target_image.pre.weight.detach().clone()
    params = [p for p in list(tiny_encoder.parameters()) + list(objective.parameters()) if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.5)
    Composite([weighted_entry(objective)])(tiny_encoder, batch)["loss"].backward()
    optimizer.step()
    objective.on_step_end(tiny_encoder)
    online = tiny_encoder.model.text_projection.weight.detach()
    torch.testing.assert_close(objective.target_encoder.model.text_projection.weight, 0.95 * target_before + 0.05 * online)
    torch.testing.assert_close(objective.target_image.pre.weight, 0.95 * head_before + 0.05 * objective.online_image.pre.weight.detach())
    assert int(objective.step) == 1

    resumed = build(tiny_encoder)  # fresh target = current online weights, step 0
    resumed.load_state_dict(objective.state_dict())
    for a, b in zip(resumed.state_dict().values(), objective.state_dict().values()):
        assert torch.equal(a, b)


def test_terms_match_the_pure_losses(tiny_encoder, batch):
    objective = build(tiny_encoder, loss_weights="fixed", lambda_inter=0.5, lambda_intra=2.0)
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    assert set(terms) >= {"clipin_cl", "clipin_inter", "clipin_intra", "_clipin_inter_raw", "_clipin_intra_raw"}
    assert terms["clipin_inter"].item() == pytest.approx(0.5 * terms["_clipin_inter_raw"].item(), rel=1e-6)
    assert terms["clipin_intra"].item() == pytest.approx(2.0 * terms["_clipin_intra_raw"].item(), rel=1e-6)
    assert -2.0 <= terms["_clipin_inter_raw"].item() <= 2.0
    assert "log_lambdas" in dict(objective.named_buffers())


def test_wiring_reproduces_eqs_3_to_11_on_clean_views(tiny_encoder, batch):
    clean_views = ImageAugmentConfig(enabled=False)
    objective = build(tiny_encoder, image_augment=clean_views)
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    f_image = tiny_encoder.encode_image(tiny_encoder.normalize(batch["images"]))
    f_text = tiny_encoder.encode_text(tiny_encoder.tokenize(batch["texts"]))
    shared_i, m_i = objective.online_image(f_image)
    shared_t, m_t = objective.online_text(f_text)
    target_i, target_t = objective.target_image(f_image)[1], objective.target_text(f_text)[1]  # target = online at init
    expected_inter = inter_modal_loss(objective.inter_image(m_i), objective.inter_text(m_t), target_i, target_t)
    expected_intra = intra_modal_loss(objective.intra_image(m_i), objective.intra_text(m_t), target_i, target_t)
    expected_cl = contrastive_loss(objective.contrastive_image(shared_i), objective.contrastive_text(shared_t), 0.07)
    assert terms["_clipin_inter_raw"].item() == pytest.approx(expected_inter.item(), abs=1e-5)
    assert terms["_clipin_intra_raw"].item() == pytest.approx(expected_intra.item(), abs=1e-5)
    assert terms["clipin_cl"].item() == pytest.approx(expected_cl.item(), rel=1e-5)
    augmented = build(tiny_encoder)  # default augmentation, same weights once loaded
    augmented.load_state_dict(objective.state_dict())
    other = Composite([weighted_entry(augmented)])(tiny_encoder, batch)
    assert abs(other["_clipin_inter_raw"].item() - expected_inter.item()) > 1e-4  # views differ from the clean image


def test_views_are_deterministic_and_change_with_the_step(tiny_encoder, batch):
    objective = build(tiny_encoder)
    first = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    again = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    assert first["_clipin_inter_raw"].item() == again["_clipin_inter_raw"].item()
    objective.step += 1
    later = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    assert later["_clipin_inter_raw"].item() != first["_clipin_inter_raw"].item()


def test_text_views_when_enabled(tiny_encoder, batch):
    objective = build(tiny_encoder, text_augment=TextAugmentConfig(enabled=True, deletion_prob=0.3, swap_prob=0.3),
                      image_augment=ImageAugmentConfig(enabled=False))
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    assert torch.isfinite(terms["loss"])


def test_learnable_weights_get_gradients_and_stay_within_bounds(tiny_encoder, batch):
    objective = build(tiny_encoder, weight_floor=0.5, weight_ceiling=2.0)
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    terms["loss"].backward()
    grad = objective.log_lambdas.grad
    # d(lambda L)/ds = lambda * L with lambda = exp(s) = 1 at init
    assert grad[0].item() == pytest.approx(terms["_clipin_inter_raw"].item(), rel=1e-5)
    assert grad[1].item() == pytest.approx(terms["_clipin_intra_raw"].item(), rel=1e-5)
    with torch.no_grad():
        objective.log_lambdas.copy_(torch.tensor([5.0, -5.0]))  # far outside the bounds
    assert objective.loss_weights().tolist() == pytest.approx([2.0, 0.5])
    objective.on_step_end(tiny_encoder)
    assert objective.log_lambdas.exp().tolist() == pytest.approx([2.0, 0.5])


def test_bad_weight_settings_are_user_errors(tiny_encoder):
    with pytest.raises(UserError):
        build(tiny_encoder, weight_floor=0.0)
    with pytest.raises(UserError):
        build(tiny_encoder, lambda_inter=20.0)


def test_objective_under_bf16_autocast(tiny_encoder, batch):
    objective = build(tiny_encoder)
    reference = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)
    assert torch.isfinite(terms["loss"])
    for name in ("clipin_cl", "_clipin_inter_raw", "_clipin_intra_raw"):
        assert terms[name].item() == pytest.approx(reference[name].item(), rel=5e-2, abs=5e-2), name
    terms["loss"].backward()
    assert not math.isnan(objective.log_lambdas.grad.sum().item())


# --- the official code's loss (github T6Yang/CLIPin, main.py get_loss), transcribed --------------


def code_cosine(x1, x2, eps=1e-8):
    """The code's cosine_similarity along dim 1: x1.x2 / max(||x1|| ||x2||, eps), per row, by loops."""
    rows = []
    for i in range(x1.shape[0]):
        w12 = sum(x1[i, k] * x2[i, k] for k in range(x1.shape[1]))
        w1 = torch.sqrt(sum(x1[i, k] ** 2 for k in range(x1.shape[1])))
        w2 = torch.sqrt(sum(x2[i, k] ** 2 for k in range(x2.shape[1])))
        rows.append(w12 / torch.clamp(w1 * w2, min=eps))
    return torch.stack(rows)


def code_loss(u_cl, v_cl, u_pred, v_pred, u_self, v_self, u_tgt, v_tgt, logit_scale, lambda_intra, lambda_cl):
    """total = BYOL + lambda_selfalign * selfalign + lambda_combine * CLIP, as in the code:
    CLIP = (CE(image->text) + CE(text->image)) / 2 on exp(logit_scale) * normalized g_CL features;
    BYOL = 2 - (mean cos(u_pred, v_tgt) + mean cos(v_pred, u_tgt)); selfalign likewise with own targets."""
    b = u_cl.shape[0]
    un = [u_cl[i] / torch.sqrt(sum(u_cl[i] ** 2)) for i in range(b)]
    vn = [v_cl[i] / torch.sqrt(sum(v_cl[i] ** 2)) for i in range(b)]
    scale = torch.exp(logit_scale)
    logits = [[scale * sum(un[i] * vn[j]) for j in range(b)] for i in range(b)]  # image i vs text j
    image_ce = sum(-torch.log(torch.exp(logits[i][i]) / sum(torch.exp(logits[i][j]) for j in range(b))) for i in range(b)) / b
    text_ce = sum(-torch.log(torch.exp(logits[i][i]) / sum(torch.exp(logits[j][i]) for j in range(b))) for i in range(b)) / b
    clip = (image_ce + text_ce) / 2
    byol = 2 - (code_cosine(u_pred, v_tgt).mean() + code_cosine(v_pred, u_tgt).mean())
    selfalign = 2 - (code_cosine(u_self, u_tgt).mean() + code_cosine(v_self, v_tgt).mean())
    return byol + lambda_intra * selfalign + lambda_cl * clip


@pytest.mark.parametrize("b", [2, 5])
def test_reference_total_equals_the_official_loss(b):
    from openeyes.training.objectives.clipin import reference_total

    u_pred, v_pred, u_self, v_self, u_tgt, v_tgt = features(b, 6, seed=b + 10)
    generator = torch.Generator().manual_seed(b)
    u_cl, v_cl = torch.randn(b, 4, generator=generator, dtype=torch.float64), torch.randn(b, 4, generator=generator, dtype=torch.float64)
    logit_scale, lambda_intra, lambda_cl = torch.tensor(2.3, dtype=torch.float64), 0.7, 3.0
    ours = reference_total(contrastive_loss(u_cl, v_cl, torch.exp(-logit_scale)), inter_modal_loss(u_pred, v_pred, u_tgt, v_tgt),
                           intra_modal_loss(u_self, v_self, u_tgt, v_tgt), lambda_cl, lambda_intra)
    expected = code_loss(u_cl, v_cl, u_pred, v_pred, u_self, v_self, u_tgt, v_tgt, logit_scale, lambda_intra, lambda_cl)
    assert ours.item() == pytest.approx(expected.item(), rel=1e-9)


def test_reference_preset_has_the_code_heads_and_loss(tiny_encoder, batch):
    objective = build(tiny_encoder, preset="reference", image_augment=ImageAugmentConfig(enabled=False))
    for predictor_head in (objective.inter_image, objective.inter_text, objective.intra_image, objective.intra_text):
        assert isinstance(predictor_head[2], torch.nn.ReLU) and predictor_head[1].affine
    for projector in (objective.online_image, objective.online_text, objective.target_image, objective.target_text):
        assert not projector.head[0].affine and isinstance(projector.head[1], torch.nn.GELU)
    assert objective.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    with torch.no_grad():
        objective.raw_lambdas.copy_(torch.tensor([1.5, 0.25]))
        objective.logit_scale.fill_(2.0)
    terms = Composite([weighted_entry(objective)])(tiny_encoder, batch)

    f_image = tiny_encoder.encode_image(tiny_encoder.normalize(batch["images"]))
    f_text = tiny_encoder.encode_text(tiny_encoder.tokenize(batch["texts"]))
    shared_i, m_i = objective.online_image(f_image)
    shared_t, m_t = objective.online_text(f_text)
    u_tgt, v_tgt = objective.target_image(f_image)[1], objective.target_text(f_text)[1]  # target = online at step 0
    expected = code_loss(objective.contrastive_image(shared_i).double(), objective.contrastive_text(shared_t).double(),
                         objective.inter_image(m_i).double(), objective.inter_text(m_t).double(),
                         objective.intra_image(m_i).double(), objective.intra_text(m_t).double(),
                         u_tgt.double(), v_tgt.double(), torch.tensor(2.0, dtype=torch.float64), 0.25, 1.5)
    total = terms["clipin_cl"] + terms["clipin_inter"] + terms["clipin_intra"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-4)
    assert terms["loss"].item() == pytest.approx(total.item(), rel=1e-6)

    terms["loss"].backward()  # the lambdas and the temperature learn
    assert objective.raw_lambdas.grad.abs().min() > 0 and objective.logit_scale.grad.abs() > 0
    with torch.no_grad():
        objective.raw_lambdas.copy_(torch.tensor([-3.0, 35.0]))
        objective.logit_scale.fill_(9.0)
    objective.on_step_end(tiny_encoder)
    assert objective.raw_lambdas.tolist() == [0.0, 20.0]
    assert objective.logit_scale.item() == pytest.approx(math.log(100.0))


def test_reference_preset_rejects_lambdas_outside_the_code_range(tiny_encoder):
    with pytest.raises(UserError):
        build(tiny_encoder, preset="reference", lambda_cl=25.0)
    with pytest.raises(UserError):
        build(tiny_encoder, preset="official")

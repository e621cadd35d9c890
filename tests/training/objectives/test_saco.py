"""SaCo: Eqs. 4, 5, 7 against literal loop transcriptions; the objective's modes, options and state."""
import math

import pytest
import torch

from openeyes.errors import UserError
from openeyes.training.objectives import Composite, SacoConfig, SacoObjective, weighted_entry
from openeyes.training.objectives.saco import (
    affinity_consistency,
    incremental_weight,
    mimic_loss,
    saco_loss,
    similarity_mask,
)

# --- literal transcriptions of the paper ----------------------------------------------------


def unit(vector):
    return vector / torch.sqrt(sum(vector[k] * vector[k] for k in range(vector.shape[0])))


def inner(a, b):  # <a, b>, Eq. 2
    return sum(a[k] * b[k] for k in range(a.shape[0]))


def saco_loop(images, texts, mask=None):
    """Eq. 5: L = sum_i D(S^I_i, S^T_i), D = L1 distance, S_ij = <I_i, I_j> of normalized embeddings."""
    n = images.shape[0]
    I = [unit(images[i]) for i in range(n)]
    T = [unit(texts[i]) for i in range(n)]
    total = 0.0
    for i in range(n):
        if mask is not None and not mask[i]:
            continue
        distance = 0.0
        for j in range(n):
            distance = distance + abs(inner(I[i], I[j]) - inner(T[i], T[j]))
        total = total + distance
    return total


def mimic_loop(student, teacher):
    """Eq. 7: L = sum_i D(S^I_i, S~^I_i)."""
    n = student.shape[0]
    S = [unit(student[i]) for i in range(n)]
    P = [unit(teacher[i]) for i in range(n)]
    total = 0.0
    for i in range(n):
        for j in range(n):
            total = total + abs(inner(S[i], S[j]) - inner(P[i], P[j]))
    return total


def pearson_loop(u, v):
    """Eq. 3."""
    c = len(u)
    u_bar, v_bar = sum(u) / c, sum(v) / c
    num = sum((u[i] - u_bar) * (v[i] - v_bar) for i in range(c))
    den = math.sqrt(sum((u[i] - u_bar) ** 2 for i in range(c)) * sum((v[i] - v_bar) ** 2 for i in range(c)))
    return num / den


def consistency_loop(images, texts):
    """Eq. 4 over the other samples j != i."""
    n = images.shape[0]
    I = [unit(images[i].detach().double()) for i in range(n)]
    T = [unit(texts[i].detach().double()) for i in range(n)]
    values = []
    for i in range(n):
        s_image = [float(inner(I[i], I[j])) for j in range(n) if j != i]
        s_text = [float(inner(T[i], T[j])) for j in range(n) if j != i]
        values.append(pearson_loop(s_image, s_text))
    return sum(values) / n


def embeddings(n, d, seed, duplicate=True, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, d, generator=generator, dtype=dtype)
    texts = torch.randn(n, d, generator=generator, dtype=dtype)
    if duplicate and n > 2:
        texts[2] = texts[0]  # duplicate captions: identical text embedding rows
    return images.requires_grad_(), texts.requires_grad_()


def grads(value, inputs):
    return torch.autograd.grad(value, inputs, allow_unused=True)


# --- pure math ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_eq5_matches_the_loop(n, reduction):
    images, texts = embeddings(n, 4, seed=n)
    loop = saco_loop(images, texts) / (1 if reduction == "sum" else n * n)
    fast = saco_loss(images, texts, reduction=reduction)
    assert fast.detach().item() == pytest.approx(float(loop.detach()), abs=1e-5)
    for g_fast, g_loop in zip(grads(fast, (images, texts)), grads(loop, (images, texts))):
        torch.testing.assert_close(g_fast, g_loop, atol=1e-5, rtol=0)


def test_eq5_with_a_row_mask_matches_the_loop():
    images, texts = embeddings(5, 4, seed=3)
    mask = torch.tensor([True, False, True, True, False])
    loop = saco_loop(images, texts, mask)
    fast = saco_loss(images, texts, row_mask=mask, reduction="sum")
    assert fast.detach().item() == pytest.approx(float(loop.detach()), abs=1e-5)
    for g_fast, g_loop in zip(grads(fast, (images, texts)), grads(loop, (images, texts))):
        torch.testing.assert_close(g_fast, g_loop, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n", [1, 4])
def test_eq7_matches_the_loop_and_leaves_the_teacher_alone(n):
    student, _ = embeddings(n, 4, seed=7)
    teacher = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)  # any teacher width
    loop = mimic_loop(student, teacher.detach())
    fast = mimic_loss(student, teacher, reduction="sum")
    assert fast.detach().item() == pytest.approx(float(loop.detach()), abs=1e-5)
    torch.testing.assert_close(grads(fast, (student,))[0], grads(loop, (student,))[0], atol=1e-5, rtol=0)
    assert grads(fast, (teacher,))[0] is None  # pseudo-affinity is a fixed target


def test_eq5_is_zero_for_consistent_affinities_and_positive_otherwise():
    images, _ = embeddings(6, 4, seed=1)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    assert saco_loss(images, images @ rotation).item() == pytest.approx(0.0, abs=1e-9)  # same geometry
    assert saco_loss(images, torch.randn(6, 4, dtype=torch.float64)).item() > 0.05


def test_eq5_in_bf16_stays_near_fp32():
    images, texts = embeddings(16, 32, seed=2, dtype=torch.float32)
    reference = saco_loss(images, texts)
    low = saco_loss(images.bfloat16(), texts.bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(reference.item(), rel=2e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = saco_loss(images, texts)
    assert autocast.item() == pytest.approx(reference.item(), rel=1e-5)  # affinities run outside autocast
    g_ref = torch.autograd.grad(reference, images)[0]
    g_low = torch.autograd.grad(saco_loss(images.bfloat16(), texts.bfloat16()), images)[0]
    assert torch.nn.functional.cosine_similarity(g_ref.flatten(), g_low.float().flatten(), dim=0) > 0.99


def test_eq4_metric_matches_the_loop_and_its_extremes():
    images, texts = embeddings(7, 5, seed=4, duplicate=False)
    assert affinity_consistency(images, texts) == pytest.approx(consistency_loop(images, texts), abs=1e-9)
    assert affinity_consistency(images, images * 3.0) == pytest.approx(1.0, abs=1e-12)
    assert affinity_consistency(images, texts, chunk=2) == pytest.approx(affinity_consistency(images, texts), abs=1e-12)
    assert math.isnan(affinity_consistency(images[:2], texts[:2]))
    same_caption = texts[:1].expand(7, 5)  # every text identical: no row has a correlation
    assert math.isnan(affinity_consistency(images, same_caption))


def test_similarity_mask_and_incremental_weight():
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[1.0, 0.1], [0.0, 1.0], [0.0, 2.0]])
    assert similarity_mask(images, texts, 0.5).tolist() == [True, False, True]
    assert [incremental_weight(s, 4) for s in (0, 2, 4, 9)] == [0.0, 0.5, 1.0, 1.0]
    assert incremental_weight(0, 0) == 1.0


# --- the objective ----------------------------------------------------------------------------


def run(objective, encoder, batch):
    return Composite([weighted_entry(objective)])(encoder, batch)


def test_scratch_mode_needs_a_teacher():
    with pytest.raises(UserError, match="teacher"):
        SacoObjective(SacoConfig(mode="scratch"))


def test_continue_mode_has_no_mimicking(tiny_encoder, batch):
    objective = SacoObjective(SacoConfig(mode="continue"), tiny_encoder)
    terms = run(objective, tiny_encoder, batch)
    assert "saco_mimic" not in terms and terms["saco"].item() > 0
    images = tiny_encoder.encode_image(tiny_encoder.normalize(batch["images"]))
    texts = tiny_encoder.encode_text(tiny_encoder.tokenize(batch["texts"]))
    assert terms["saco"].item() == pytest.approx(saco_loss(images, texts).item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(5.0 * terms["saco"].item(), rel=1e-5)  # alpha = 5


@pytest.mark.parametrize("modality", ["vision", "language", "both"])
def test_mimicking_reads_the_teacher_at_its_own_resolution(make_encoder, batch, modality):
    student = make_encoder(seed=0)
    teacher = make_encoder(seed=1, image_size=48, embed_dim=12)  # other size and width
    objective = SacoObjective(SacoConfig(mimic_modality=modality), student, teacher=teacher)
    terms = run(objective, student, batch)
    with torch.no_grad():
        resized = torch.nn.functional.interpolate(batch["images"], size=(48, 48), mode="bicubic",
                                                  antialias=True).clamp(0, 1)
        t_images = teacher.encode_image(teacher.normalize(resized))
        t_texts = teacher.encode_text(teacher.tokenize(batch["texts"]))
    images = student.encode_image(student.normalize(batch["images"]))
    texts = student.encode_text(student.tokenize(batch["texts"]))
    expected = {"vision": mimic_loss(images, t_images), "language": mimic_loss(texts, t_texts)}
    expected["both"] = expected["vision"] + expected["language"]
    assert terms["saco_mimic"].item() == pytest.approx(expected[modality].item(), rel=1e-4)
    terms["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_teacher_is_frozen_and_never_checkpointed(make_encoder):
    student, teacher = make_encoder(seed=0), make_encoder(seed=1)
    objective = SacoObjective(SacoConfig(), student, teacher=teacher)
    objective.train()
    assert not objective.teacher.training
    assert not any(p.requires_grad for p in objective.teacher.parameters())
    state = objective.state_dict()
    assert not any(k.startswith("teacher.") for k in state) and "step" in state
    composite_state = {k: v.clone() for k, v in Composite([weighted_entry(objective)]).state_dict().items()}
    assert not any(".teacher." in k for k in composite_state)
    objective.on_step_end(student)
    restored = SacoObjective(SacoConfig(), student, teacher=make_encoder(seed=1))
    restored.load_state_dict(objective.state_dict())  # strict, without teacher weights
    assert int(restored.step) == 1
    Composite([weighted_entry(restored)]).load_state_dict(composite_state)  # nested prefix, strict
    assert int(restored.step) == 0


def test_ramp_and_mask_options(tiny_encoder, batch):
    objective = SacoObjective(SacoConfig(mode="continue", ramp_steps=4), tiny_encoder)
    raw = run(SacoObjective(SacoConfig(mode="continue"), tiny_encoder), tiny_encoder, batch)["saco"].item()
    assert run(objective, tiny_encoder, batch)["saco"].item() == 0.0
    objective.on_step_end(tiny_encoder)
    objective.on_step_end(tiny_encoder)
    terms = run(objective, tiny_encoder, batch)
    assert terms["saco"].item() == pytest.approx(0.5 * raw, rel=1e-5) and terms["_saco_ramp"].item() == 0.5
    masked = run(SacoObjective(SacoConfig(mode="continue", mask_threshold=1.5), tiny_encoder), tiny_encoder, batch)
    assert masked["saco"].item() == 0.0 and masked["_saco_kept_fraction"].item() == 0.0
    open_mask = run(SacoObjective(SacoConfig(mode="continue", mask_threshold=-1.5), tiny_encoder), tiny_encoder, batch)
    assert open_mask["saco"].item() == pytest.approx(raw, rel=1e-5)


def test_objective_under_bf16_autocast(tiny_encoder, batch):
    objective = SacoObjective(SacoConfig(mode="continue"), tiny_encoder)
    reference = run(objective, tiny_encoder, batch)["saco"].item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = run(objective, tiny_encoder, batch)
    assert torch.isfinite(terms["loss"])
    assert terms["saco"].item() == pytest.approx(reference, rel=5e-2, abs=5e-3)
    terms["loss"].backward()

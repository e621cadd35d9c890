"""Registry and configs; one optimizer step through ``Composite`` per objective; DDP(2) == 1 process."""
import dataclasses
import os

import pytest
import torch
import torch.multiprocessing as mp

from openeyes.config import from_dict
from openeyes.errors import UserError
from openeyes.training.objectives import (
    CONFIGS,
    REGISTRY,
    ClipinConfig,
    Composite,
    NclipConfig,
    SacoConfig,
    SacoObjective,
    XclipConfig,
    build_objective,
    weighted_entry,
)

SMALL_CONFIGS = {
    "clip": None,
    "saco": SacoConfig(mode="continue"),
    "clipin": ClipinConfig(pre_dim=24, contrastive_dim=8, noncontrastive_dim=32, predictor_hidden_dim=12),
    "nclip": NclipConfig(output_dim=64, hidden_dim=32),
    "xclip": XclipConfig(nclip=NclipConfig(output_dim=64, hidden_dim=32)),
}


def test_registry_and_configs_cover_the_same_names():
    assert set(REGISTRY) == set(CONFIGS) >= {"clip", "saco", "clipin", "nclip", "xclip"}
    for name, config_class in CONFIGS.items():
        assert dataclasses.is_dataclass(config_class)
        from_dict(config_class, {})  # every field has a default


def test_configs_load_from_plain_mappings():
    config = from_dict(XclipConfig, {"clip_weight": 0.5, "nclip": {"output_dim": 128}})
    assert config.nclip.output_dim == 128 and config.clip_weight == 0.5
    with pytest.raises(UserError):
        from_dict(SacoConfig, {"mimic_modality": "smell"})
    clipin = from_dict(ClipinConfig, {"image_augment": {"flip_prob": 0.0}, "loss_weights": "fixed"})
    assert clipin.image_augment.flip_prob == 0.0


def test_build_objective_checks_names_and_config_types(tiny_encoder):
    with pytest.raises(UserError, match="unknown objective"):
        build_objective("simclr", tiny_encoder)
    with pytest.raises(UserError, match="NclipConfig"):
        build_objective("nclip", tiny_encoder, SacoConfig())


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_one_optimizer_step_trains_encoder_and_heads(name, make_encoder, batch):
    encoder = make_encoder(seed=0)
    if name == "saco":  # scratch mode with a teacher, the paper's main recipe
        objective = SacoObjective(SacoConfig(), encoder, teacher=make_encoder(seed=1))
    else:
        objective = build_objective(name, encoder, SMALL_CONFIGS[name])
    composite = Composite([weighted_entry(objective)])
    trainable = [p for p in list(encoder.parameters()) + list(objective.parameters()) if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    terms = composite(encoder, batch)
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    optimizer.step()
    composite.on_step_end(encoder)
    changed = [not torch.equal(b, p) for b, p in zip(before, trainable)]
    own = {id(p) for p in objective.parameters()}
    assert any(c for c, p in zip(changed, trainable) if id(p) not in own)  # the encoder moved
    if own & {id(p) for p in trainable}:
        assert any(c for c, p in zip(changed, trainable) if id(p) in own)  # and the objective's heads
    assert torch.isfinite(composite(encoder, batch)["loss"])


# --- DDP: 2 processes on half batches == 1 process on the whole batch ------------------------------

DDP_OBJECTIVES = ("saco", "clipin", "nclip", "xclip")


def _ddp_gradients(name, rank, world, setup):
    """Loss and DDP-averaged gradients of one objective on this rank's share of an 8-sample batch."""
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    tokenizer = train_caption_tokenizer(setup["captions"], vocab_size=300, max_length=12)
    encoder = build_tiny_clip(tokenizer, seed=0, **setup["tiny"]).train().double()  # float64: 1e-5 is meaningful
    torch.manual_seed(1)
    if name == "saco":
        teacher = build_tiny_clip(tokenizer, seed=1, **setup["tiny"]).double()
        objective = SacoObjective(SacoConfig(mask_threshold=-0.05), encoder, teacher=teacher)
    else:
        objective = build_objective(name, encoder, SMALL_CONFIGS[name])
    objective.double()
    full = setup["batch"]
    share = slice(rank * 8 // world, (rank + 1) * 8 // world)
    local = {"images": full["images"][share].double(), "texts": full["texts"][share], "index": full["index"][share]}
    terms = Composite([weighted_entry(objective)])(encoder, local)
    terms["loss"].backward()
    named = [(f"encoder.{k}", p) for k, p in encoder.named_parameters()]
    named += [(f"objective.{k}", p) for k, p in objective.named_parameters()]
    grads = {}
    for key, parameter in named:
        if parameter.grad is None:
            continue
        grad = parameter.grad.detach().clone()
        if world > 1:  # what DDP does: average over processes
            torch.distributed.all_reduce(grad)
            grad /= world
        grads[key] = grad
    return {"loss": terms["loss"].detach().item(), "grads": grads}


def _ddp_worker(rank, world, setup, out_dir):
    torch.set_num_threads(1)
    results = {name: _ddp_gradients(name, 0, 1, setup) for name in DDP_OBJECTIVES} if rank == 0 else None
    store = "file://" + os.path.join(out_dir, "store")
    torch.distributed.init_process_group("gloo", init_method=store, rank=rank, world_size=world)
    try:
        distributed = {name: _ddp_gradients(name, rank, world, setup) for name in DDP_OBJECTIVES}
    finally:
        torch.distributed.destroy_process_group()
    if rank == 0:
        torch.save({"single": results, "ddp": distributed}, os.path.join(out_dir, "results.pt"))


def test_two_processes_update_exactly_like_one(tmp_path, tiny_recipe, make_batch):
    setup = {**tiny_recipe, "batch": make_batch(size=8, seed=3)}
    mp.spawn(_ddp_worker, args=(2, setup, str(tmp_path)), nprocs=2, join=True)
    results = torch.load(tmp_path / "results.pt", weights_only=False)
    for name in DDP_OBJECTIVES:
        single, ddp = results["single"][name], results["ddp"][name]
        assert ddp["loss"] == pytest.approx(single["loss"], rel=1e-5), name
        assert set(ddp["grads"]) == set(single["grads"]), name
        for key, grad in single["grads"].items():
            torch.testing.assert_close(ddp["grads"][key], grad, atol=1e-5, rtol=0, msg=f"{name}: {key}")

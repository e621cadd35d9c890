"""Prefix freezing, trainable counts, LoRA inject/merge, gradient checkpointing switch."""
import pytest
import torch
from torch import nn

from openeyes.errors import UserError
from openeyes.trainer.freeze import (
    apply_lora, enable_gradient_checkpointing, freeze, merge_lora, train_only, trainable_report, unfreeze,
)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(8, 8)
        self.v_proj = nn.Linear(8, 8)
        self.out = nn.Linear(8, 8)

    def forward(self, x):
        return self.out(torch.relu(self.q_proj(x)) + self.v_proj(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = Block()
        self.vision_head = nn.Linear(8, 2)  # shares a name start with "vision", not a child of it

    def forward(self, x):
        return self.vision_head(self.vision(x))


def test_freeze_by_module_prefix_and_report():
    net = Net()
    total = sum(p.numel() for p in net.parameters())
    assert freeze(net, ["vision"]) == 3 * 72  # only vision.*, not vision_head
    report = trainable_report(net)
    assert (report.trainable, report.total, report.trainable_tensors) == (18, total, 2)
    assert "18 /" in str(report)
    unfreeze(net, ["vision.out"])
    assert trainable_report(net).trainable == 18 + 72
    assert train_only(net, ["vision_head"]).trainable == 18
    with pytest.raises(UserError, match="no parameter name starts with 'text'"):
        freeze(net, ["text"])


def test_lora_trains_only_adapters_and_merges_to_the_same_function():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(5, 8)
    apply_lora(net, ["q_proj", "v_proj"], r=2, alpha=4, dropout=0.0)
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert trainable_report(net).trainable == 2 * (2 * 8 + 8 * 2)
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):  # move lora_B off zero so the merge matters
        optimizer.zero_grad()
        net(x).pow(2).sum().backward()
        optimizer.step()
    adapted = net(x).detach()
    merge_lora(net)
    assert type(net.vision.q_proj) is nn.Linear and not any("lora_" in n for n, _ in net.named_parameters())
    assert torch.allclose(net(x), adapted, atol=1e-5)
    assert not torch.allclose(Net()(x), adapted)
    with pytest.raises(UserError):
        apply_lora(Net(), ["nonexistent_proj"])


def test_gradient_checkpointing_switch():
    from transformers import CLIPTextConfig, CLIPTextModel

    model = CLIPTextModel(CLIPTextConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, max_position_embeddings=8))
    wrapper = nn.ModuleDict({"text": model, "head": nn.Linear(4, 4)})
    assert enable_gradient_checkpointing(wrapper) == ["text"]
    assert model.is_gradient_checkpointing
    with pytest.raises(UserError):
        enable_gradient_checkpointing(Net())

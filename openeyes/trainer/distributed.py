"""Cross-process helpers for in-batch objectives under DDP (gloo on CPU, nccl on GPU).

Exactness argument. Every rank scores the whole gathered batch, so the loss value L is the
same on every rank. For the encoder weights, rank r only sees dL/d(its own features); the
true gradient is the *sum* over ranks of those pieces, while DDP *averages* them: so the
gradient entering the local slice is multiplied by the world size (in ``gather_with_grad``).
Parameters used after the gather (a learnable temperature, heads on gathered features) get
the full dL/dθ on every rank already; DDP's average leaves it unchanged, so they must not be
scaled. Scaling the gradient at the gather, not the loss, gets both right.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the incoming gradient by ``factor`` on the way back."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate ``local`` [B, ...] over processes -> [B * world, ...], rank order.

    Other ranks' rows arrive without gradient; this rank's slice is the original tensor with
    its gradient multiplied by the world size, so that after DDP averages over ranks each
    encoder weight gets the exact gradient of a loss over the gathered batch, as one process
    on the global batch would (see the module docstring; clip.py uses it).
    """
    if world_size() == 1:
        return local
    pieces = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(pieces, local.detach().contiguous())
    pieces[rank()] = _ScaleGradient.apply(local, float(world_size()))
    return torch.cat(pieces, dim=0)


def as_global_loss(loss: torch.Tensor) -> torch.Tensor:
    """Mark ``loss`` as computed over the *gathered* batch on every rank (value and gradient unchanged).

    The world-size gradient factor lives in ``gather_with_grad``, on the local features only.
    (Scaling the loss instead also multiplied the gradient of parameters used after the
    gather, such as CLIP's learnable temperature, by the world size.) Kept so that call sites
    state their intent and keep working.
    """
    return loss

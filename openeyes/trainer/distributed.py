"""Cross-process helpers for in-batch objectives under DDP (gloo on CPU, nccl on GPU)."""
from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate ``local`` [B, ...] over processes -> [B * world, ...], rank order.

    Other ranks' rows arrive without gradient; this rank's slice is the original tensor,
    so the gradient of a loss over the gathered batch flows into the local features. With
    DDP averaging gradients over ranks, the result equals single-process training on the
    global batch when each rank's loss is computed on its own rows (see clip.py).
    """
    if world_size() == 1:
        return local
    pieces = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(pieces, local.detach().contiguous())
    pieces[rank()] = local
    return torch.cat(pieces, dim=0)


def as_global_loss(loss: torch.Tensor) -> torch.Tensor:
    """Mark ``loss`` as computed over the *gathered* batch on every rank.

    Each rank then holds the exact gradient for its own features, and DDP's averaging over
    ranks would divide it by the world size; this keeps the loss value but multiplies its
    gradient by the world size, so 2 processes update exactly like 1 on the global batch.
    """
    factor = world_size()
    if factor == 1:
        return loss
    return loss * factor - loss.detach() * (factor - 1)

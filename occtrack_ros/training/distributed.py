"""Distributed data-parallel training on PyTorch's own engine (torch.distributed + DDP).

Every training stage calls :func:`init_distributed` once and wraps its model with
:func:`wrap_ddp`. Run unchanged as a single process, or under ``torchrun``::

    torchrun --nproc_per_node 2 -m occtrack_ros.cli train detector ...

``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; the backend is
NCCL on CUDA and gloo on CPU. Rank 0 alone writes checkpoints, plots and logs.
Mixed precision: :func:`autocast` gives bf16 (or fp16) autocast on CUDA and a no-op on CPU.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available, else CPU; 'cuda' without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available; use --device cpu")
    return device


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun, else return a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world_size <= 1:
        return DistContext(device=dev)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def wrap_ddp(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """DistributedDataParallel when distributed; the model itself otherwise."""
    model = model.to(ctx.device)
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def shard(indices: list[int], ctx: DistContext) -> list[int]:
    """This rank's share of a list of sample indices (round-robin, every rank the same length)."""
    if not ctx.distributed:
        return list(indices)
    per_rank = len(indices) // ctx.world_size
    return list(indices[ctx.rank::ctx.world_size][:per_rank])


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    """Average a scalar (e.g. a loss for logging) over ranks."""
    if not ctx.distributed:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def autocast(device: torch.device, enabled: bool = True, dtype: str = "bf16"):
    """Mixed precision on CUDA (bf16 by default, fp16 on request); a no-op on CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


def cleanup(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()

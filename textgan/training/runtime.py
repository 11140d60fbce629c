"""Device, precision and process group, created once and passed to trainers (no `.cuda()`)."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from textgan.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """`auto` prefers CUDA, then MPS, then CPU; an unavailable explicit device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("--device mps was asked for but MPS is not available; use --device cpu or auto")
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class Runtime:
    """Where and how tensors run: device, autocast precision, rank and world size."""

    device: torch.device
    precision: str = "fp32"
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op in fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler, enabled only for fp16."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over processes (identity in one process)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel in several processes, the module itself otherwise."""
        if not self.distributed:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def make_runtime(device: str, precision: str) -> Runtime:
    """Create the runtime; joins the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = resolve_device(device)
    if precision == "fp16" and resolved.type == "cpu":
        raise ConfigError("train.precision=fp16 needs a GPU; use bf16 or fp32 on the CPU")
    rank = 0
    if world_size > 1:
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
        rank = dist.get_rank()
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
    log.info("device %s, precision %s, process %d of %d", resolved, precision, rank, world_size)
    return Runtime(resolved, precision, rank, world_size)

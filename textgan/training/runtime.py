"""Device, precision and process group, created once and passed to trainers (no `.cuda()`)."""

from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
import torch.distributed as dist

from textgan.errors import ConfigError

log = logging.getLogger(__name__)

# How long `Runtime.main_first` lets the other processes wait for rank 0 (first-time tokenisation
# of a large corpus takes far longer than a collective's default timeout).
PATIENT_TIMEOUT = datetime.timedelta(days=2)
_patient_group: Any = None  # made once per process, on the first make_runtime under torchrun


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
    patient_group: Any = None  # a gloo group with PATIENT_TIMEOUT for `main_first` (None: the default group)

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

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A batch made on the host, on the device: on CUDA copied from pinned memory without
        waiting (the host goes on dispatching while it travels), elsewhere a plain `.to`."""
        if self.device.type != "cuda":
            return tensor.to(self.device)
        return tensor.pin_memory().to(self.device, non_blocking=True)

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

    def gather_objects(self, value: object) -> list[object]:
        """Every process's `value` (picklable, in memory only), in rank order."""
        if not self.distributed:
            return [value]
        values: list[object] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the body on rank 0 first, then on the others (who then find rank 0's caches). The
        others wait on `patient_group`, whose timeout (PATIENT_TIMEOUT) outlasts tokenising a large
        corpus, not on the default group's (minutes under NCCL)."""
        if not self.is_main:
            self.patient_barrier()
        yield
        if self.is_main:
            self.patient_barrier()

    def patient_barrier(self) -> None:
        """A barrier that waits up to PATIENT_TIMEOUT (the default group's where none was made)."""
        if self.distributed:
            dist.barrier(group=self.patient_group)

    # -- splitting global batches over processes -----------------------------------------------
    # Every random draw is made for the whole global batch, identically on every process (the
    # trainers' generators share one seed), and each process keeps its rows: so a row's random
    # numbers do not depend on the number of processes, and N processes repeat one process.
    def local(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's rows of a global tensor: rows rank, rank + world, ..."""
        return rows[self.rank :: self.world_size]

    def local_rand(self, *shape: int, generator: torch.Generator, normal: bool = False) -> torch.Tensor:
        """This process's rows of a uniform (or normal) draw of `shape`, made in full on every process."""
        draw = torch.randn if normal else torch.rand
        return self.local(draw(shape, generator=generator, device=generator.device))

    def gather_rows(self, rows: torch.Tensor, total: int) -> torch.Tensor:
        """Inverse of `local`: the global (total, ...) tensor from every process's rows."""
        if not self.distributed:
            return rows
        per_rank = -(-total // self.world_size)
        padded = rows.new_zeros((per_rank, *rows.shape[1:]))
        padded[: rows.shape[0]] = rows
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded.contiguous())
        return torch.stack(parts, dim=1).flatten(0, 1)[:total]

    def share(self, local_count: int, global_count: int) -> float:
        """Factor that turns a mean over this process's `local_count` rows of a global batch into
        its share of the global mean, once gradients are averaged over processes."""
        return self.world_size * local_count / global_count if global_count else 0.0

    def any_true(self, flag: bool) -> bool:
        """True on every process when `flag` is true on one (decisions taken from clocks)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean_over_rows(self, means: dict[str, float], local_count: float) -> dict[str, float]:
        """Per-row means of this process turned into means over every process's rows."""
        if not self.distributed:
            return dict(means)
        names = list(means)
        sums = torch.tensor([means[n] * local_count for n in names] + [float(local_count)],
                            dtype=torch.float64, device=self.device)
        self.all_reduce_sum(sums)
        count = float(sums[-1]) or 1.0
        return {n: float(sums[i]) / count for i, n in enumerate(names)}

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """All-reduce gradients to their mean over processes, in one flat buffer.

        For updates that do not go through a DDP `forward` (a frozen discriminator, gradient
        penalties, the policy gradient). A parameter without a gradient on every process keeps
        none, as in one process.
        """
        if not self.distributed:
            return
        params = [p for p in parameters if p.requires_grad]
        if not params:
            return
        present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.device)
        flat = torch.cat([present] + [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float()
                                      for p in params])
        self.all_reduce_sum(flat)
        flat /= self.world_size
        offset = len(params)
        for p, has_grad in zip(params, (flat[: len(params)] > 0).tolist()):  # one host read, not one per parameter
            size = p.numel()
            if has_grad:
                p.grad = flat[offset : offset + size].view_as(p).to(p.dtype)
            offset += size

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's parameters and buffers (identical starts without DDP)."""
        if not self.distributed:
            return
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def configure_determinism(device: torch.device, enabled: bool) -> None:
    """train.deterministic on CUDA: cuDNN's deterministic kernels without autotuning, a fixed
    cuBLAS workspace, and torch's deterministic implementations (the TextCNN's overlapping-window
    backward goes through index_add, which then sorts instead of racing atomics); an op without
    one warns instead of failing. CPU kernels are deterministic already: nothing is changed there."""
    if device.type != "cuda" or not enabled:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when the first cuBLAS handle is made
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def make_runtime(device: str, precision: str, deterministic: bool = True) -> Runtime:
    """Create the runtime; under torchrun, joins the process group (on CUDA bound to this
    process's GPU) once per process and leaves it when the process exits."""
    global _patient_group
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = resolve_device(device)
    if precision == "fp16" and resolved.type == "cpu":
        raise ConfigError("train.precision=fp16 needs a GPU; use bf16 or fp32 on the CPU")
    configure_determinism(resolved, deterministic)
    rank = 0
    if world_size > 1:
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        if not dist.is_initialized():
            cuda = resolved.type == "cuda"
            dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=resolved if cuda else None)
            atexit.register(_leave_process_group)
        rank = dist.get_rank()
        if _patient_group is None:
            _patient_group = dist.new_group(backend="gloo", timeout=PATIENT_TIMEOUT)
    log.info("device %s, precision %s, process %d of %d", resolved, precision, rank, world_size)
    return Runtime(resolved, precision, rank, world_size, _patient_group)


def _leave_process_group() -> None:
    """Destroy the process group at exit (NCCL warns of, and may hang on, one left behind)."""
    global _patient_group
    if dist.is_initialized():
        dist.destroy_process_group()
    _patient_group = None

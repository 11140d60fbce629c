"""ESTIMATE (not a measurement) of one canonical SeqGAN adversarial round on one H100, from a CPU profile.

The round: 1 policy-gradient step (batch 64, 16 rollouts of length 20) and the paper's D schedule,
5 D steps x 3 epochs on 10,000 real + 10,000 freshly generated rows, batch 64: 4,695 D updates
(examples/oracle_seqgan.yaml's model, the canonical TextCNN). torch.profiler counts, on the CPU,
the operators each piece dispatches (each is about one CUDA kernel launch), their FLOPs (matrix
products) and host synchronisations (`.item()`, `float(tensor)`), and the round is then priced:

    host   = launches x LAUNCH_US                       (eager dispatch + cudaLaunchKernel)
    device = FLOPs / DEVICE_TFLOPS + launches x KERNEL_US  (GEMMs at a fraction of peak; a kernel's floor)
    round  = max(host, device) + syncs x SYNC_US        (each sync drains the queue)

The constants are stated assumptions, printed with the result; a device measurement replaces all
of this (benchmarks/gpu_smoke.sh times real runs).

    python benchmarks/seqgan_gpu_estimate.py --threads 1
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

LAUNCH_US = 5.0  # host cost of one eager operator on CUDA: PyTorch dispatch and the launch itself
KERNEL_US = 2.0  # the shortest a kernel occupies the GPU
SYNC_US = 10.0  # a host-device synchronisation's round trip
ADAM_LAUNCHES = 12  # torch.optim.Adam's foreach (multi-tensor) step on CUDA, for any number of parameters
DEVICE_TFLOPS = 20.0  # fp32 GEMMs of these small shapes: ~30% of an H100 SXM's 67 TFLOP/s (no TF32)
# operators that launch no kernel on CUDA (views, metadata, allocation)
NO_KERNEL = {
    "aten::view", "aten::reshape", "aten::_reshape_alias", "aten::t", "aten::transpose", "aten::permute",
    "aten::expand", "aten::expand_as", "aten::as_strided", "aten::unsqueeze", "aten::squeeze", "aten::slice",
    "aten::select", "aten::detach", "aten::detach_", "aten::empty", "aten::empty_strided", "aten::empty_like",
    "aten::alias", "aten::unflatten", "aten::flatten", "aten::split", "aten::split_with_sizes", "aten::chunk",
    "aten::narrow", "aten::contiguous", "aten::resolve_conj", "aten::resolve_neg", "aten::lift_fresh",
    "aten::result_type", "aten::_unsafe_view", "aten::unbind", "aten::view_as", "aten::requires_grad_",
    "aten::set_", "aten::size", "aten::stride", "aten::is_nonzero", "aten::item", "aten::numpy_T",
    "aten::_local_scalar_dense", "aten::to", "aten::_to_copy", "aten::lift", "aten::diagonal",
}
SYNC_OPS = {"aten::_local_scalar_dense"}


@dataclass
class Cost:
    """Operators dispatched (~kernel launches), FLOPs and host synchronisations of a piece of work."""

    launches: float = 0.0
    flops: float = 0.0
    syncs: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.launches + other.launches, self.flops + other.flops, self.syncs + other.syncs)

    def __sub__(self, other: "Cost") -> "Cost":
        return Cost(self.launches - other.launches, self.flops - other.flops, self.syncs - other.syncs)

    def __mul__(self, factor: float) -> "Cost":
        return Cost(self.launches * factor, self.flops * factor, self.syncs * factor)

    def seconds(self) -> tuple[float, float, float]:
        """(host, device, estimate) seconds on an H100 under the stated constants."""
        host = self.launches * LAUNCH_US * 1e-6
        device = self.flops / (DEVICE_TFLOPS * 1e12) + self.launches * KERNEL_US * 1e-6
        return host, device, max(host, device) + self.syncs * SYNC_US * 1e-6


def in_optimizer_step(event) -> bool:
    """Whether a profiled operator ran inside an optimizer's step."""
    while event is not None:
        if event.name.startswith("Optimizer.step#"):
            return True
        event = event.cpu_parent
    return False


def profiled(work: Callable[[], object]) -> Cost:
    """Cost of one call of `work`, counted by torch.profiler on the CPU. An optimizer step counts
    as ADAM_LAUNCHES: on the CPU Adam loops over parameters (and reads each one's step count, a
    CPU scalar, with .item()), on CUDA its multi-tensor implementation does one pass for all."""
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        work()
    cost = Cost()
    for event in prof.events():
        name = event.name
        if name.startswith("Optimizer.step#"):
            cost.launches += ADAM_LAUNCHES
        if not name.startswith("aten::") or in_optimizer_step(event):
            continue
        cost.flops += event.flops or 0
        if name in SYNC_OPS:
            cost.syncs += 1
        leaf = not any(child.name.startswith("aten::") for child in event.cpu_children)
        if leaf and name not in NO_KERNEL:
            cost.launches += 1
    return cost


def canonical_trainer(out: Path, **sets: object):
    """The SeqGAN trainer of examples/oracle_seqgan.yaml on the CPU, with `sets` overriding keys."""
    from textgan.api import build_data
    from textgan.checkpoint import RunDirectory
    from textgan.config import load_config
    from textgan.models import build_generator
    from textgan.training.policy_gradient import SeqGANTrainer
    from textgan.training.runtime import make_runtime

    cfg = load_config("examples/oracle_seqgan.yaml", [f"{k}={v}" for k, v in {"train.device": "cpu", **sets}.items()])
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg)
    tok = data.tokenizer
    generator = build_generator(cfg.model, tok.vocab_size, data.train.tokens.shape[1], tok.bos_id, tok.eos_id, tok.pad_id)
    return SeqGANTrainer(cfg, RunDirectory(out), make_runtime("cpu", "fp32"), data, generator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (counts do not depend on it)")
    parser.add_argument("--profile-rows", type=int, default=320,
                        help="real rows of the profiled D updates (as many generated); the canonical 10,000 is extrapolated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    d_batch, d_rows, d_steps, d_epochs, gpu_chunk = 64, 10_000, 5, 3, 1024 * 16
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"seqgan.d_samples": args.profile_rows, "seqgan.d_batch_size": d_batch, "seqgan.nll_oracle_samples": 64}
        one = canonical_trainer(Path(tmp) / "a", **sets, **{"seqgan.d_epochs": 1})
        two = canonical_trainer(Path(tmp) / "b", **sets, **{"seqgan.d_epochs": 2})
        one.train_discriminator(0.0)  # warm-up (allocations, lazy initialisation)
        two.train_discriminator(0.0)
        d_update_1, d_update_2 = profiled(lambda: one.train_discriminator(0.0)), profiled(lambda: two.train_discriminator(0.0))
        batches = math.ceil(2 * args.profile_rows / d_batch)
        d_batch_cost = (d_update_2 - d_update_1) * (1 / batches)  # one epoch's batches; generation cancels
        rows = torch.arange(gpu_chunk // 16) % len(one.data.train)
        real = one.data.train.tokens[rows]
        lengths = one.data.train.prompt_lengths[rows]
        draws = torch.rand(len(rows), one.sequence_length, generator=torch.Generator().manual_seed(0))
        one.generate(real, lengths, draws)
        generation_per_row = profiled(lambda: one.generate(real, lengths, draws)) * (1 / len(rows))
        generation_chunk = profiled(lambda: one.generate(real[:1], lengths[:1], draws[:1]))  # launches of one chunk
        one.policy_gradient_step()
        pg = profiled(one.policy_gradient_step)

    chunks = math.ceil(d_rows / gpu_chunk)
    generation = Cost(generation_chunk.launches * chunks, generation_per_row.flops * d_rows, generation_chunk.syncs * chunks)
    d_batches = d_steps * d_epochs * math.ceil(2 * d_rows / d_batch)
    round_cost = pg + generation * d_steps + d_batch_cost * d_batches
    print("ESTIMATE, not a measurement: one canonical SeqGAN round (1 G step, 16 rollouts; D 5 x 3 epochs on "
          "10,000 + 10,000, batch 64) on one H100, from a CPU profile")
    print(f"assumed: {LAUNCH_US:g} us host per launch, {KERNEL_US:g} us shortest kernel, {SYNC_US:g} us per sync, "
          f"{DEVICE_TFLOPS:g} TFLOP/s fp32 GEMMs, {ADAM_LAUNCHES} launches per Adam step; GPU generation chunk "
          f"{gpu_chunk:,} rows")
    for name, cost, count in (("D update (one batch)", d_batch_cost, d_batches),
                              ("generation (10,000 rows)", generation, d_steps),
                              ("policy-gradient step", pg, 1), ("round", round_cost, 1)):
        host, device, estimate = (cost * count).seconds()
        print(f"{name:26s} x{count:<5d} {cost.launches:9.0f} launches {cost.flops / 1e9:9.3f} GFLOP {cost.syncs:6.1f} syncs"
              f"  -> host {host:6.2f} s, device {device:6.2f} s, estimate {estimate:6.2f} s")
    print(f"estimated round on one H100: {round_cost.seconds()[2]:.2f} s (issue 25's target: <= 2 s)")


if __name__ == "__main__":
    main()

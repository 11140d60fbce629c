"""MLE speed in the SeqGAN oracle setting: ours beside a plain PyTorch loop, and the floor.

10,000 sequences of length 20, vocabulary 5,000, LSTM with embedding and hidden size 32,
batch 64, Adam. Ours is the code path of `textgan train` (MLEStepper: fused output layer + loss,
the toolkit's optimiser); the plain loop is nn.Embedding -> nn.LSTM -> nn.Linear ->
F.cross_entropy with torch.optim.Adam's defaults. Epochs alternate between the two (the machine
is shared; each reports its fastest). The floor is what no implementation of this step avoids:
the output layer's three matmuls (logits, input and weight gradients; inner size 32, over
128-row blocks or all rows at once, whichever is faster), one exp per logit, the plain loop's LSTM forward and backward and an
Adam update, each timed on its own in the same run; and the bytes the plain loop moves for its
(rows, V) logits, against this machine's measured copy bandwidth. Usage:
    python benchmarks/mle_speed.py --threads 1 [--epochs 3] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textgan.config import ModelConfig
from textgan.data.encoding import EncodedSplit
from textgan.models import build_generator
from textgan.training.base import epoch_order, global_batches
from textgan.training.mle import MLEStepper
from textgan.training.optim import make_optimizer
from textgan.training.runtime import Runtime


class PlainLSTM(nn.Module):
    """The usual language model: embedding, LSTM, linear over the vocabulary."""

    def __init__(self, vocab: int, size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, size)
        self.lstm = nn.LSTM(size, size, batch_first=True)
        self.output = nn.Linear(size, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.output(self.lstm(self.embedding(tokens))[0])


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def fastest(run: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    """Seconds on `clock` of the fastest of `repeats` calls after a warm-up."""
    run()
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each (alternating)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed seconds; cpu: this process's CPU seconds (steadier on a shared "
                             "machine: time spent descheduled does not count)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokens = torch.randint(0, args.vocab, (args.sequences, args.length))
    split = EncodedSplit(tokens, torch.zeros(args.sequences, dtype=torch.long))
    generator = build_generator(ModelConfig(kind="lstm", embedding_dim=32, hidden_dim=32), args.vocab,
                                args.length, bos_id=0, eos_id=None, pad_id=None)
    stepper = MLEStepper(generator, Runtime(torch.device("cpu"), args.precision), 0.01, 0.0, 5.0)
    plain = PlainLSTM(args.vocab, 32)
    plain_optimizer = torch.optim.Adam(plain.parameters(), lr=0.01)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def plain_step(rows: torch.Tensor) -> None:
        targets = tokens[rows]
        inputs = torch.cat([torch.zeros_like(targets[:, :1]), targets[:, :-1]], dim=1)
        plain_optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = plain(inputs)
        F.cross_entropy(logits.float().flatten(0, 1), targets.flatten()).backward()
        nn.utils.clip_grad_norm_(plain.parameters(), 5.0)
        plain_optimizer.step()

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for epoch in range(args.epochs):
        for name, step in (("ours", lambda rows: stepper.step(split, rows)), ("plain", plain_step)):
            start = CLOCKS[args.clock]()
            for rows in global_batches(epoch_order(args.sequences, 0, epoch), args.batch_size):
                step(rows)
            times[name].append(CLOCKS[args.clock]() - start)
    ours, plain_best = min(times["ours"]), min(times["plain"])
    steps = -(-args.sequences // args.batch_size)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, precision {args.precision}, {args.clock} clock")
    print(f"MLE epoch ({args.sequences} x {args.length} tokens, vocab {args.vocab}, LSTM 32/32, batch "
          f"{args.batch_size}, {steps} steps): ours best {ours:.2f} s (all {', '.join(f'{t:.2f}' for t in times['ours'])}), "
          f"plain loop best {plain_best:.2f} s (all {', '.join(f'{t:.2f}' for t in times['plain'])})")
    print(f"tokens/s: ours {args.sequences * args.length / ours:,.0f}, plain {args.sequences * args.length / plain_best:,.0f}; "
          f"ours is {plain_best / ours:.2f}x the plain loop")
    floor(args, plain, steps, ours, plain_best)


def floor(args: argparse.Namespace, plain: PlainLSTM, steps: int, ours: float, plain_best: float) -> None:
    """Print the time per epoch of the work no implementation of the step avoids, timed here."""
    rows, vocab, size = args.batch_size * args.length, args.vocab, 32
    clock = CLOCKS[args.clock]
    hidden, weight = torch.randn(rows, size), torch.randn(vocab, size) * 0.1
    logits = hidden @ weight.t()
    repeats, block = 5, 128  # the fused loss's row block: its (block, V) logits stay in cache
    blocks = [(hidden[i : i + block], logits[i : i + block].clone()) for i in range(0, rows, block)]

    def blocked_matmuls() -> None:
        for h, grad in blocks:
            h @ weight.t(), grad @ weight, grad.t() @ h

    matmuls = min(fastest(blocked_matmuls, repeats, clock),
                  fastest(lambda: (hidden @ weight.t(), logits @ weight, logits.t() @ hidden), repeats, clock))
    in_cache = blocks[0][1]
    exps = fastest(lambda: in_cache.exp_().neg_(), repeats, clock) * rows / block  # one exp per logit
    inputs = torch.randint(vocab, (args.batch_size, args.length))

    def lstm_pass() -> None:
        plain.lstm(plain.embedding(inputs))[0].sum().backward()

    lstm = fastest(lstm_pass, repeats, clock)
    optimizer = make_optimizer(plain.parameters(), 0.01)
    adam = fastest(optimizer.step, repeats, clock)  # the fused update (the toolkit's)
    step_floor = matmuls + exps + lstm + adam
    epoch_floor = step_floor * steps
    # the plain loop's logits: written by the matmul, read and written by log-softmax, read by
    # its backward, gradient written and read twice by the matmuls: 6 passes of (rows, V) floats
    logit_bytes = 6 * rows * vocab * 4
    big = torch.ones(2**26)  # 256 MB, far past the caches
    copy_target = torch.empty_like(big)
    bandwidth = 2 * big.numel() * 4 / fastest(lambda: copy_target.copy_(big), repeats, clock)  # read + write
    print(f"floor per step: output matmuls {matmuls * 1e3:.2f} ms + {rows * vocab / 1e6:.1f} M exp {exps * 1e3:.2f} ms "
          f"+ LSTM forward/backward {lstm * 1e3:.2f} ms + Adam {adam * 1e3:.2f} ms = {step_floor * 1e3:.2f} ms, "
          f"{epoch_floor:.2f} s an epoch: ours is {ours / epoch_floor:.2f}x the floor, and no implementation can "
          f"be more than {plain_best / epoch_floor:.2f}x the plain loop")
    print(f"the plain loop's logits move {logit_bytes / 1e6:.0f} MB a step; at the measured copy bandwidth "
          f"{bandwidth / 1e9:.1f} GB/s that is {logit_bytes / bandwidth * steps:.2f} s of its {plain_best:.2f} s epoch")


if __name__ == "__main__":
    main()

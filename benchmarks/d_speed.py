"""Discriminator throughput against the machine: D training and scoring GFLOP/s beside fp32 matmul.

The canonical TextCNN (SeqGAN's 12 filter sizes, embedding 64, highway) on length-20 rows of a
5,000-token vocabulary. A training step is what `train_discriminator` does per batch (forward,
BCE + L2, backward, the toolkit's optimiser); scoring is `score_sequences` under no_grad, as the
rollout rewards call it. FLOPs are counted from the shapes: multiply-adds x 2 of the filters,
the highway and the output layer, x 3 for a training step (forward, input and weight
gradients). The machine is shared, so the matmul, our D and the plain one (one nn.Conv1d per
filter size, torch.optim.Adam's default per-tensor update) are timed in interleaved rounds and
each reports its fastest round:

    python benchmarks/d_speed.py --threads 1
    python benchmarks/d_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textgan.models.cnn_discriminator import TextCNN
from textgan.training.rollouts import score_sequences
from textgan.training.optim import make_optimizer


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 runs D under torch.autocast (the matmul peak stays fp32)")
    parser.add_argument("--batch-size", type=int, default=64, help="D training batch (SeqGAN's 64)")
    parser.add_argument("--score-rows", type=int, default=2048, help="rows scored per timed scoring call")
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (fastest reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed seconds; cpu: this process's CPU seconds (steadier on a shared "
                             "machine: time spent descheduled does not count)")
    return parser.parse_args()


def forward_flops(d: TextCNN, length: int) -> int:
    """Multiply-adds x 2 of one sequence through the filters, the highway and the output layer."""
    features = sum(d.num_filters)
    return d.conv_flops(length) + 2 * (features * 2 * features + features)


class Conv1dTextCNN(nn.Module):
    """The usual implementation, for comparison: one nn.Conv1d per filter size, bias and ReLU per
    window, then our highway and output layer (its own copy of the weights)."""

    def __init__(self, ours: TextCNN) -> None:
        super().__init__()
        self.head_network = TextCNN.from_config_dict(ours.config_dict())
        self.head_network.load_state_dict(ours.state_dict())
        self.convs = nn.ModuleList()
        for size, bank in zip(ours.filter_sizes, ours.filters):
            conv = nn.Conv1d(ours.embedding_dim, bank.out_features, size)
            with torch.no_grad():  # our bank weight is (n, k*E) over a flattened (k, E) window
                conv.weight.copy_(bank.weight.view(bank.out_features, size, ours.embedding_dim).transpose(1, 2))
                conv.bias.copy_(bank.bias)
            self.convs.append(conv)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        embedded = self.head_network.embedding(tokens).transpose(1, 2)
        features = torch.cat([torch.relu(conv(embedded)).amax(dim=2) for conv in self.convs], dim=1)
        return self.head_network.head(features)

    def l2_penalty(self) -> torch.Tensor:
        """The same L2 term as ours."""
        return self.head_network.l2_penalty()


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, tokens: torch.Tensor, targets: torch.Tensor,
                  autocast: Callable[[], contextlib.AbstractContextManager]) -> None:
    """One D update as `train_discriminator` makes it (BCE with logits + 0.2 x L2)."""
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        logits = model(tokens)
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets) + 0.2 * model.l2_penalty()
    loss.backward()
    optimizer.step()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.precision == "bf16" else contextlib.nullcontext
    ours = TextCNN(args.vocab_size, args.length).train()
    plain = Conv1dTextCNN(ours).train()
    optimizers = {ours: make_optimizer(ours.parameters(), 1e-4), plain: torch.optim.Adam(plain.parameters(), lr=1e-4)}
    batches = [(torch.randint(args.vocab_size, (args.batch_size, args.length)),
                torch.randint(2, (args.batch_size,)).float()) for _ in range(args.steps)]
    score_rows = torch.randint(args.vocab_size, (args.score_rows, args.length))
    size = 2048
    a, b = torch.randn(size, size), torch.randn(size, size)

    def train(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            for tokens, targets in batches:
                training_step(model, optimizers[model], tokens, targets, autocast)
        return run

    def score(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            model.eval()
            with torch.no_grad():
                score_sequences(model, score_rows, 4096, autocast)
            model.train()
        return run

    timed = {"matmul": lambda: a @ b, "train ours": train(ours), "train plain": train(plain),
             "score ours": score(ours), "score plain": score(plain)}
    best = {name: float("inf") for name in timed}
    for run in timed.values():  # warm-up: allocations, optimiser state
        run()
    for _ in range(args.rounds):
        for name, run in timed.items():
            start = CLOCKS[args.clock]()
            run()
            best[name] = min(best[name], CLOCKS[args.clock]() - start)

    peak = 2 * size**3 / best["matmul"] / 1e9
    per_row = forward_flops(ours, args.length)
    train_flops = 3 * per_row * args.batch_size * args.steps
    score_flops = per_row * args.score_rows
    print(f"torch {torch.__version__}, {args.threads} threads, precision {args.precision}, {args.clock} clock; "
          f"fastest of {args.rounds} interleaved rounds (the machine is shared)")
    print(f"canonical TextCNN, batch {args.batch_size}, length {args.length}, vocabulary {args.vocab_size:,}: "
          f"{per_row * args.batch_size / 1e9:.2f} GFLOP forward a batch, x3 for a training step")
    print(f"fp32 matmul {size}x{size}: {peak:,.1f} GFLOP/s")
    for kind, key, flops, plain_name, count in (
            ("training", "train", train_flops, "nn.Conv1d + per-tensor Adam", f"{args.steps} steps"),
            ("scoring", "score", score_flops, "nn.Conv1d", f"{args.score_rows:,} rows")):
        rate, plain_rate = flops / best[f"{key} ours"] / 1e9, flops / best[f"{key} plain"] / 1e9
        print(f"D {kind}: {rate:,.1f} GFLOP/s = {rate / peak:.0%} of matmul peak ({count}; the plain "
              f"{plain_name}: {plain_rate:,.1f} GFLOP/s, ours {rate / plain_rate:.2f}x)")

if __name__ == "__main__":
    main()

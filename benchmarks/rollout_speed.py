"""Seconds per SeqGAN reward batch: batched rollouts (ours) against the peers' loop, same run.

Setting of the SeqGAN oracle experiment: batch 64, 16 rollouts, length 20, vocabulary 5,000,
LSTM generator with embedding/hidden 32, canonical TextCNN discriminator. Also prints the
machine's matmul GFLOP/s (fp32, bf16) and the discriminator's achieved GFLOP/s, ours and a
canonical one-nn.Conv1d-per-filter-size TextCNN with the same weights.

    python benchmarks/rollout_speed.py --threads 2 --precision bf16 --reference-rollouts 1

The reference loop is `textgan.training.rollouts.reference_rollout_rewards` (the peers' algorithm with our
sampler and TextCNN: isolates the batching); the peers' loop also uses torch.multinomial and
one nn.Conv1d per filter size, as TextGAN-PyTorch does. Both may run on fewer rollouts and are
then extrapolated linearly (their cost is linear in the rollout count).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Callable

import torch
from torch import nn

from textgan.models.cnn_discriminator import TextCNN
from textgan.models.lstm import LSTMGenerator
from textgan.models.sampling import sample_tokens
from textgan.training.rollouts import inverse_cdf_sample, reference_rollout_rewards, rollout_rewards, score_sequences


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 runs the generator and D under torch.autocast")
    parser.add_argument("--reference-rollouts", type=int, default=1,
                        help="rollouts the reference loop runs; its time is extrapolated linearly")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3, help="timed reward batches (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed seconds; cpu: this process's CPU seconds (steadier on a shared "
                             "machine: time spent descheduled does not count)")
    return parser.parse_args()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def best_seconds(run: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Fastest of `repeats` timed calls after one warm-up (the machine is shared: min is least noisy)."""
    run()
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return min(times)


def matmul_gflops(dtype: torch.dtype, clock: Callable[[], float] = time.perf_counter, size: int = 2048,
                  repeats: int = 5) -> float:
    """Measured dense matmul throughput of this machine."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats, clock) / 1e9


def discriminator_flops(d: TextCNN, length: int) -> int:
    """Multiply-adds x 2 of one sequence through the filters, the highway and the output layer."""
    conv = sum(n * k * d.embedding_dim * (length - k + 1) for k, n in zip(d.filter_sizes, d.num_filters))
    features = sum(d.num_filters)
    return 2 * (conv + features * 2 * features + features)


class CanonicalTextCNN(nn.Module):
    """The usual implementation, for comparison: one nn.Conv1d per filter size, bias and ReLU per window."""

    def __init__(self, ours: TextCNN) -> None:
        super().__init__()
        self.ours = ours
        self.convs = nn.ModuleList()
        for size, bank in zip(ours.filter_sizes, ours.filters):
            conv = nn.Conv1d(ours.embedding_dim, bank.out_features, size)
            with torch.no_grad():  # our bank weight is (n, k*E) over a flattened (k, E) window
                conv.weight.copy_(bank.weight.view(bank.out_features, size, ours.embedding_dim).transpose(1, 2))
                conv.bias.copy_(bank.bias)
            self.convs.append(conv)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        embedded = self.ours.embedding(tokens).transpose(1, 2)
        features = torch.cat([torch.relu(conv(embedded)).amax(dim=2) for conv in self.convs], dim=1)
        return self.ours.head(features)


@torch.no_grad()
def peer_rollout_rewards(generator: LSTMGenerator, discriminator: nn.Module, samples: torch.Tensor,
                         rollouts: int, rng: torch.Generator) -> torch.Tensor:
    """TextGAN-PyTorch's ROLLOUT.get_reward: per rollout and prefix, rerun the prefix, multinomial, D."""
    batch, length = samples.shape
    rewards = torch.zeros(batch, length)
    start = torch.full((batch, 1), generator.bos_id, dtype=torch.long)
    for _ in range(rollouts):
        for prefix_length in range(1, length):
            completed = samples.clone()
            logits, state = generator.logits(torch.cat([start, samples[:, :prefix_length]], dim=1))
            for position in range(prefix_length, length):
                probabilities = torch.softmax(logits[:, -1].float(), dim=-1)
                token = torch.multinomial(probabilities, 1, generator=rng)
                completed[:, position] = token.squeeze(1)
                if position + 1 < length:
                    logits, state = generator.logits(token, state)
            rewards[:, prefix_length - 1] += torch.sigmoid(discriminator(completed).float())
        rewards[:, -1] += torch.sigmoid(discriminator(samples).float())
    return rewards / rollouts


def sampling_seconds(logits: torch.Tensor, draw: Callable[[torch.Tensor], torch.Tensor],
                     clock: Callable[[], float] = time.perf_counter, block_rows: int = 2048) -> float:
    """Seconds to draw one token per row of `logits`, in blocks of rows as the rollouts do."""
    start = clock()
    for block in torch.split(logits, block_rows):
        draw(block)
    return clock() - start


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    batch, rollouts, length, vocab = args.batch_size, args.rollouts, args.length, args.vocab_size
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.precision == "bf16" else contextlib.nullcontext
    generator = LSTMGenerator(vocab, length, bos_id=0, embedding_dim=32, hidden_dim=32).eval()
    discriminator = TextCNN(vocab, length).eval()
    canonical = CanonicalTextCNN(discriminator).eval()
    samples = generator.sample(batch, length, generator=torch.Generator().manual_seed(args.seed))
    d_sequences = batch * rollouts * (length - 1) + batch
    rollout_rows = batch * rollouts * length * (length - 1) // 2
    rng = torch.Generator().manual_seed(args.seed)

    print(f"torch {torch.__version__}, {args.threads} threads, precision {args.precision}, {args.clock} clock; the machine is "
          "shared: times are the fastest of several runs, and cpu/wall shows the share of a core we got")
    print(f"setting: batch {batch}, {rollouts} rollouts, length {length}, vocabulary {vocab:,}, LSTM 32/32, "
          f"canonical TextCNN; per reward batch {d_sequences:,} sequences for D and {rollout_rows:,} "
          "sampled rollout tokens")
    clock = CLOCKS[args.clock]
    fp32_peak, bf16_peak = matmul_gflops(torch.float32, clock), matmul_gflops(torch.bfloat16, clock)
    print(f"matmul 2048x2048: fp32 {fp32_peak:,.0f} GFLOP/s, bf16 {bf16_peak:,.0f} GFLOP/s")

    d_input = torch.randint(vocab, (d_sequences, length))
    flops = discriminator_flops(discriminator, length) * d_sequences
    for name, model in (("ours", discriminator), ("one nn.Conv1d per size", canonical)):
        seconds = best_seconds(lambda: score_sequences(model, d_input, 4096, autocast), 1, clock)
        print(f"D pass over {d_sequences:,} sequences, {name}: {seconds:.2f} s = {flops / seconds / 1e9:,.0f} "
              f"GFLOP/s ({flops / 1e9:,.0f} GFLOP: filters, highway, output)")

    # the same completions as a reward batch: per prefix length t, N rows per sample keep its first t tokens
    prefixes = torch.arange(1, length).repeat_interleave(batch * rollouts)
    sources = torch.arange(batch).repeat_interleave(rollouts).repeat(length - 1)
    completions = torch.where(torch.arange(length) < prefixes.unsqueeze(1), samples[sources], d_input[:-batch])

    def shared() -> torch.Tensor:
        with autocast():
            return discriminator.shared_prefix_logits(samples, completions, sources, prefixes)

    seconds = best_seconds(shared, 1, clock)
    conv_all = discriminator.conv_flops(length) * d_sequences
    conv_new = discriminator.shared_prefix_conv_flops(length, prefixes) + discriminator.conv_flops(length) * batch
    flops_new = flops - (conv_all - conv_new)
    print(f"D pass over the same rollout completions, sharing prefixes with their samples: {seconds:.2f} s = "
          f"{flops_new / seconds / 1e9:,.0f} GFLOP/s ({flops_new / 1e9:,.0f} GFLOP); windows inside the shared "
          f"prefix skipped: {1 - conv_new / conv_all:.1%} of D's filter FLOPs, {1 - flops_new / flops:.1%} of all")

    sample_share = 10  # sampling is timed on a tenth of the rows and scaled up
    logits = torch.randn(rollout_rows // sample_share, vocab) * 2
    samplers = {
        "torch.multinomial": lambda x: torch.multinomial(torch.softmax(x, -1), 1, generator=rng),
        "sample_tokens (inverse CDF)": lambda x: sample_tokens(x, generator=rng),
        "inverse_cdf_sample (two-level)": lambda x: inverse_cdf_sample(x, generator=rng),
    }
    for name, draw in samplers.items():
        seconds = min(sampling_seconds(logits, draw, clock) for _ in range(2)) * sample_share
        print(f"sampling {rollout_rows:,} rows of {vocab:,} logits, {name}: {seconds:.2f} s "
              f"(timed on {rollout_rows // sample_share:,} rows, x{sample_share})")

    def ours() -> torch.Tensor:
        return rollout_rewards(generator, discriminator, samples, rollouts, generator=rng, autocast=autocast)

    ours()
    walls, cpus = [], []
    for _ in range(args.repeats):
        wall, cpu = clock(), time.process_time()
        ours()
        walls.append(clock() - wall)
        cpus.append(time.process_time() - cpu)
    ours_seconds = min(walls)
    print(f"ours: {ours_seconds:.2f} s per reward batch (fastest of {args.repeats}, median "
          f"{statistics.median(walls):.2f} s; cpu {min(cpus):.2f} s)")

    reference_rollouts = min(args.reference_rollouts, rollouts)
    scale = rollouts / reference_rollouts
    note = f" (measured on {reference_rollouts} rollouts, x{scale:g})" if reference_rollouts < rollouts else ""
    start = clock()
    with autocast():
        reference_rollout_rewards(generator, discriminator, samples, reference_rollouts, generator=rng)
    reference_seconds = (clock() - start) * scale
    print(f"reference loop, our sampler and TextCNN: {reference_seconds:.2f} s per reward batch{note}")
    start = clock()
    with autocast():
        peer_rollout_rewards(generator, canonical, samples, reference_rollouts, rng)
    peer_seconds = (clock() - start) * scale
    print(f"peers' loop, multinomial and one nn.Conv1d per size: {peer_seconds:.2f} s per reward batch{note}")
    print(f"ours is {reference_seconds / ours_seconds:.1f}x faster than the reference loop and "
          f"{peer_seconds / ours_seconds:.1f}x faster than the peers' loop")
    peak = bf16_peak if args.precision == "bf16" else fp32_peak
    d_floor = flops_new / peak / 1e9
    print(f"floor: D's {flops_new / 1e9:,.0f} GFLOP at this run's {args.precision} matmul peak take {d_floor:.2f} s, so "
          f"a reward batch scored by this D cannot be more than {peer_seconds / d_floor:.1f}x the peers' loop")


if __name__ == "__main__":
    main()

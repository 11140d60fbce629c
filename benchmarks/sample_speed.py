"""Sampling throughput: `textgan sample` and the evaluation's samples beside a plain loop.

Oracle setting: LSTM with embedding and hidden size 32, vocabulary 5,000, length 20. Ours is
the toolkit's code: `Generator.sample` (what `textgan sample` calls) and `models.generation.generate`
(2,000 samples at each of the leaderboard's 6 temperatures, in its chunks). The plain loop
steps the same network one token at a time and draws with softmax + torch.multinomial, as the
peers' code does. Runs alternate (the machine is shared; each reports its fastest):

    python benchmarks/sample_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from textgan.config import ModelConfig
from textgan.data.encoding import EncodedSplit
from textgan.models.generation import generate
from textgan.models import build_generator
from textgan.models.base import Generator

LEADERBOARD_TEMPERATURES = (0.5, 0.7, 0.85, 1.0, 1.2, 1.5)  # benchmarks/leaderboard.py's default


@torch.no_grad()
def plain_sample(generator: Generator, count: int, length: int, temperature: float, rng: torch.Generator) -> torch.Tensor:
    """The usual loop: one step of the network, softmax, torch.multinomial."""
    token = torch.full((count, 1), generator.bos_id, dtype=torch.long)
    rows, state = [], None
    for _ in range(length):
        logits, state = generator.logits(token, state)
        token = torch.multinomial(torch.softmax(logits[:, -1] / temperature, dim=-1), 1, generator=rng)
        rows.append(token)
    return torch.cat(rows, dim=1)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=2000, help="samples per temperature")
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=5_000)
    parser.add_argument("--hidden", type=int, default=32, help="LSTM embedding and hidden size")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (fastest reported)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed seconds; cpu: this process's CPU seconds (steadier on a shared "
                             "machine: time spent descheduled does not count)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    generator = build_generator(ModelConfig(kind="lstm", embedding_dim=args.hidden, hidden_dim=args.hidden), args.vocab,
                                args.length, bos_id=0, eos_id=None, pad_id=None).eval()
    split = EncodedSplit(torch.zeros(1, args.length, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    rng = torch.Generator().manual_seed(0)
    temperatures = LEADERBOARD_TEMPERATURES

    runs: dict[str, Callable[[], object]] = {
        "sample": lambda: generator.sample(args.samples, temperature=1.0, generator=rng),
        "plain sample": lambda: plain_sample(generator, args.samples, args.length, 1.0, rng),
        "evaluation": lambda: [generate(generator, args.samples, t, rng, split) for t in temperatures],
        "plain evaluation": lambda: [plain_sample(generator, args.samples, args.length, t, rng) for t in temperatures],
    }
    best = {name: float("inf") for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = CLOCKS[args.clock]()
            run()
            best[name] = min(best[name], CLOCKS[args.clock]() - start)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; LSTM {args.hidden}/{args.hidden}, vocabulary "
          f"{args.vocab:,}, length {args.length}; {args.clock} clock, fastest of {args.rounds} alternating rounds")
    tokens = args.samples * args.length
    for name, label, count in (("sample", f"textgan sample ({args.samples:,} rows, T=1)", tokens),
                               ("evaluation", f"evaluation ({args.samples:,} samples x {len(temperatures)} temperatures)",
                                tokens * len(temperatures))):
        ours, plain = count / best[name], count / best[f"plain {name}"]
        print(f"{label}: {ours:,.0f} tokens/s ({best[name]:.2f} s); plain loop {plain:,.0f} tokens/s "
              f"({best[f'plain {name}']:.2f} s); ours {ours / plain:.2f}x")


if __name__ == "__main__":
    main()

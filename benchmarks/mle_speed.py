"""MLE speed in the SeqGAN oracle setting: tokens/s and seconds per epoch.

10,000 sequences of length 20, vocabulary 5,000, LSTM with embedding and hidden size 32,
batch 64, Adam; the same code path as `textgan train` (MLEStepper). Usage:
    python benchmarks/mle_speed.py [--epochs 3] [--threads 2] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import time

import torch

from textgan.config import ModelConfig
from textgan.data.encoding import EncodedSplit
from textgan.models import build_generator
from textgan.training.base import epoch_order, global_batches
from textgan.training.mle import MLEStepper
from textgan.training.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokens = torch.randint(0, args.vocab, (args.sequences, args.length))
    split = EncodedSplit(tokens, torch.zeros(args.sequences, dtype=torch.long))
    generator = build_generator(ModelConfig(kind="lstm", embedding_dim=32, hidden_dim=32), args.vocab,
                                args.length, bos_id=0, eos_id=None, pad_id=None)
    stepper = MLEStepper(generator, Runtime(torch.device("cpu"), args.precision), 0.01, 0.0, 5.0)
    times = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        for rows in global_batches(epoch_order(args.sequences, 0, epoch), args.batch_size):
            stepper.step(split, rows)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, precision {args.precision}")
    print(f"MLE epoch ({args.sequences} x {args.length} tokens, vocab {args.vocab}, LSTM 32/32, batch "
          f"{args.batch_size}): best {best:.2f} s, all {', '.join(f'{t:.2f}' for t in times)} s")
    print(f"tokens/s: {args.sequences * args.length / best:,.0f}")


if __name__ == "__main__":
    main()

"""Seconds to leak D's features of every prefix of a batch, as LeakGAN does at every step: the
plain pass over each prefix padded to the row length against `TextCNN.grow_prefix`, same run.

Defaults are those of the timings in docs/discrete_gans.md, the COCO preset before issue 20: batch
64, rows of 40 tokens, vocabulary 4,700, embedding 64, filters 2,3,4,5,10,15,20 x
100,200,200,200,160,160,160 (examples/coco_leakgan.yaml now has SeqGAN's filters and 38). Pass
`--length 20 --vocab 5000` for the oracle's. Also prints the largest difference of the two.

    python benchmarks/leakgan_features.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from textgan.models.cnn_discriminator import TextCNN


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--vocab", type=int, default=4700)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is printed")
    return parser.parse_args()


@torch.no_grad()
def plain_prefix_features(cnn: TextCNN, tokens: torch.Tensor, fill: int) -> torch.Tensor:
    """(B, T + 1, F): D's plain pass over every prefix of 0..T tokens padded with `fill`."""
    batch, length = tokens.shape
    columns = torch.arange(length)
    prefixes = torch.where(columns < torch.arange(length + 1).unsqueeze(1), tokens.unsqueeze(1), fill)
    flat = prefixes.flatten(0, 1)
    return cnn.sentence_features(cnn.features(cnn.embed(flat))).view(batch, length + 1, -1)


def best_of(repeats: int, run) -> tuple[float, torch.Tensor]:
    """The fastest of `repeats` timed calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cnn = TextCNN(args.vocab, args.length, 64, [2, 3, 4, 5, 10, 15, 20], [100, 200, 200, 200, 160, 160, 160]).eval()
    tokens = torch.randint(0, args.vocab, (args.batch_size, args.length))
    fill = args.vocab - 1
    plain_s, plain = best_of(args.repeats, lambda: plain_prefix_features(cnn, tokens, fill))
    grown_s, grown = best_of(args.repeats, lambda: cnn.grow_prefix(cnn.start_prefix(args.batch_size, fill), tokens, fill,
                                                                   include_start=True)[1])
    print(f"torch {torch.__version__}, {args.threads} thread(s); batch {args.batch_size}, length {args.length}, "
          f"vocabulary {args.vocab}")
    print(f"features of every prefix: plain {plain_s:.3f} s, grown {grown_s:.3f} s ({plain_s / grown_s:.1f}x); "
          f"largest difference {(plain - grown).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
